/**
 * The common body of the linear operators built from a pair of 1-D maps (super-resolution, blur):
 * forward and adjoint through the SeparableMap, the observation y they carry, noisy measurement,
 * rebuilding from a stored y, and the spec the stage cache stores. Subclasses only build the map
 * and name their own parameters.
 */
import * as tf from '@tensorflow/tfjs';
import type { MeasurementOperator, OperatorSpec } from './operator.js';
import type { Rng } from '../util/random.js';
import type { SeparableMap } from './separable.js';
import { addMeasurementNoise, checkImageShape, checkSigmaY } from './noise.js';

export abstract class SeparableOperator implements MeasurementOperator {
  abstract readonly kind: string;
  readonly sigmaY: number;
  private observation: tf.Tensor4D | undefined;

  protected constructor(
    readonly inputShape: readonly [number, number, number],
    readonly outputShape: readonly [number, number, number],
    sigmaY: number,
    private readonly map: SeparableMap,
    private readonly label: string,
  ) {
    this.sigmaY = checkSigmaY(sigmaY, label);
  }

  /** The operator's own parameters for its spec (sigmaY and inputShape are added here). */
  protected abstract specParams(): Record<string, unknown>;

  /** y = A(x_true) + sigmaY n for a clean image of batch 1. */
  protected observe(xTrue: tf.Tensor4D, rng: Rng): void {
    if (xTrue.shape[0] !== 1) {
      this.dispose();
      throw new Error(`${this.label}: the true image must have batch 1, got ${xTrue.shape[0]}`);
    }
    this.observation = tf.keep(tf.tidy(() => addMeasurementNoise(this.forward(xTrue), this.sigmaY, rng)));
  }

  /** Take a copy of a stored observation; on a bad shape the operator frees itself and throws. */
  protected adoptObservation(y: tf.Tensor4D): void {
    try {
      checkImageShape(y, this.outputShape, `${this.label} observation`);
      if (y.shape[0] !== 1)
        throw new Error(`${this.label}: the observation must have batch 1, got ${y.shape[0]}`);
    } catch (e) {
      this.dispose();
      throw e;
    }
    this.observation = tf.keep(tf.clone(y));
  }

  get y(): tf.Tensor4D {
    if (!this.observation) throw new Error(`${this.label}: operator has been disposed`);
    return this.observation;
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    checkImageShape(x, this.inputShape, `${this.label} forward`);
    return this.map.apply(x);
  }

  adjoint(y: tf.Tensor4D): tf.Tensor4D {
    checkImageShape(y, this.outputShape, `${this.label} adjoint`);
    return this.map.applyAdjoint(y);
  }

  /** Spec tensors are this operator's own (not copies): do not dispose them. */
  toSpec(): OperatorSpec {
    return {
      kind: this.kind,
      params: { ...this.specParams(), sigmaY: this.sigmaY, inputShape: [...this.inputShape] },
      tensors: { y: this.y },
    };
  }

  dispose(): void {
    this.map.dispose();
    this.observation?.dispose();
    this.observation = undefined;
  }
}
