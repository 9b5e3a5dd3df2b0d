/**
 * Adam (Kingma & Ba 2015) over groups of variables with their own learning rates and a step decay
 * lr_k = lr_0 * factor^floor(k / every) (VIPaint: lr 0.1 / 0.1 / 0.01 for mu / logit gamma /
 * log tau^2, x0.99 every 10 iterations, appendix E.1). Written here rather than using tf.train.adam
 * because that optimiser has one learning rate and no schedule.
 */
import * as tf from '@tensorflow/tfjs';

export interface AdamGroup {
  variable: tf.Variable;
  lr: number;
}

export interface AdamOptions {
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  decayFactor?: number;
  decayEvery?: number;
}

export class GroupAdam {
  private readonly m: tf.Tensor[];
  private readonly v: tf.Tensor[];
  private k = 0;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;
  private readonly decayFactor: number;
  private readonly decayEvery: number;

  constructor(
    private readonly groups: AdamGroup[],
    options: AdamOptions = {},
  ) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
    this.decayFactor = options.decayFactor ?? 0.99;
    this.decayEvery = options.decayEvery ?? 10;
    this.m = groups.map((g) => tf.keep(tf.zerosLike(g.variable)));
    this.v = groups.map((g) => tf.keep(tf.zerosLike(g.variable)));
  }

  /** The learning-rate multiplier of the current iteration. */
  scale(): number {
    return Math.pow(this.decayFactor, Math.floor(this.k / this.decayEvery));
  }

  /** One update from gradients in group order. */
  step(grads: tf.Tensor[]): void {
    const scale = this.scale();
    this.k += 1;
    const c1 = 1 - Math.pow(this.beta1, this.k);
    const c2 = 1 - Math.pow(this.beta2, this.k);
    this.groups.forEach((g, i) => {
      const grad = grads[i];
      if (!grad) throw new Error(`adam: no gradient for group ${i}`);
      const [m, v] = tf.tidy(() => [
        tf.add(tf.mul(this.m[i] as tf.Tensor, this.beta1), tf.mul(grad, 1 - this.beta1)),
        tf.add(tf.mul(this.v[i] as tf.Tensor, this.beta2), tf.mul(tf.square(grad), 1 - this.beta2)),
      ]) as [tf.Tensor, tf.Tensor];
      (this.m[i] as tf.Tensor).dispose();
      (this.v[i] as tf.Tensor).dispose();
      this.m[i] = tf.keep(m);
      this.v[i] = tf.keep(v);
      tf.tidy(() => {
        const update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), this.epsilon));
        g.variable.assign(tf.sub(g.variable, tf.mul(update, g.lr * scale)));
      });
    });
  }

  dispose(): void {
    this.m.forEach((t) => t.dispose());
    this.v.forEach((t) => t.dispose());
  }
}
