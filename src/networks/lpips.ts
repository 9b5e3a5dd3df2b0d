/**
 * LPIPS (Zhang et al. 2018, v0.1) with the SqueezeNet 1.1 backbone: the perceptual distance the
 * paper reports and the feature-space term its LDM likelihood adds. Parameters are read under the
 * names of the official `lpips.LPIPS(net='squeeze')` module's state_dict:
 *   net.slice{s}.{i}.weight / .bias                    conv 0 of SqueezeNet's `features`
 *   net.slice{s}.{i}.{squeeze,expand1x1,expand3x3}.*   the Fire modules (features index i)
 *   lin{k}.model.1.weight  [1, C_k, 1, 1]              the learned per-channel weights (no bias)
 * with features 0-1 in slice 1, 2-4 in slice 2, 5-7 in 3, 8-9 in 4, 10, 11, 12 in 5, 6, 7.
 *
 * distance(a, b) for images in [-1, 1]: each image is shifted and scaled per RGB channel (the
 * official ScalingLayer), the seven ReLU taps are unit-normalised over channels, their squared
 * difference is weighted by lin{k}, averaged over space and summed over taps. Grayscale inputs
 * are repeated to three channels. The unit normalisation divides by sqrt(|f|^2 + 1e-20) where
 * the official code divides by |f| + 1e-10: the same to float32 precision wherever |f| > 0, and
 * at f = 0 this form has a gradient (the official one gives 0/0 there).
 */
import * as tf from '@tensorflow/tfjs';
import type { TensorMap } from '../checkpoint/types.js';
import { Conv2d } from './layers.js';
import { buildFromCheckpoint, type WeightStore } from './weights.js';

/** ScalingLayer constants of LPIPS v0.1 (RGB): x' = (x - shift) / scale. */
const SHIFT = [-0.03, -0.088, -0.188];
const SCALE = [0.458, 0.448, 0.45];

/** Channels of the seven taps. */
export const LPIPS_SQUEEZE_CHANNELS = [64, 128, 256, 384, 384, 512, 512] as const;

/**
 * The smallest side the network takes: the stride-2 convolution and three ceil-mode poolings leave
 * 17 -> 8 -> 4 -> 2 -> 1 (at 16 the last pooling would have no output; PyTorch refuses it too).
 */
export const LPIPS_MIN_SIDE = 17;

/** features index -> LPIPS slice number (1-based), SqueezeNet 1.1. */
export function squeezeSliceOf(featureIndex: number): number {
  const firstOfSlice = [0, 2, 5, 8, 10, 11, 12];
  let s = 0;
  while (s + 1 < firstOfSlice.length && featureIndex >= (firstOfSlice[s + 1] ?? Infinity)) s++;
  return s + 1;
}

/** 3x3 max pooling, stride 2, PyTorch ceil_mode=True: pad bottom/right with -inf so the last
 *  partial window counts, then pool 'valid'. */
function maxPool3s2Ceil(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [, h, w] = x.shape;
    const out = (n: number): number => Math.ceil((n - 3) / 2) + 1;
    const padH = (out(h) - 1) * 2 + 3 - h;
    const padW = (out(w) - 1) * 2 + 3 - w;
    const padded =
      padH > 0 || padW > 0
        ? tf.pad(
            x,
            [
              [0, 0],
              [0, padH],
              [0, padW],
              [0, 0],
            ],
            Number.NEGATIVE_INFINITY,
          )
        : x;
    return tf.maxPool(padded, 3, 2, 'valid');
  });
}

/** torchvision Fire: squeeze 1x1 + ReLU, then [expand 1x1 + ReLU, expand 3x3 (pad 1) + ReLU]. */
class Fire {
  private readonly squeeze: Conv2d;
  private readonly expand1: Conv2d;
  private readonly expand3: Conv2d;
  constructor(store: WeightStore, prefix: string, inCh: number, squeeze: number, expand: number) {
    this.squeeze = new Conv2d(store, `${prefix}.squeeze`, inCh, squeeze, 1);
    this.expand1 = new Conv2d(store, `${prefix}.expand1x1`, squeeze, expand, 1);
    this.expand3 = new Conv2d(store, `${prefix}.expand3x3`, squeeze, expand, 3, { padding: 1 });
  }
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const s = tf.relu(this.squeeze.apply(x));
      return tf.concat([tf.relu(this.expand1.apply(s)), tf.relu(this.expand3.apply(s))], 3);
    });
  }
}

export class LpipsSqueeze {
  private readonly conv0: Conv2d;
  private readonly fires: Map<number, Fire>;
  private readonly lins: tf.Tensor4D[];
  private ownedStore: WeightStore | undefined;

  constructor(store: WeightStore) {
    const at = (i: number): string => `net.slice${squeezeSliceOf(i)}.${i}`;
    this.conv0 = new Conv2d(store, at(0), 3, 64, 3, { stride: 2 });
    // features index -> (input channels, squeeze, expand) of torchvision's squeezenet1_1.
    const spec: Array<[number, number, number, number]> = [
      [3, 64, 16, 64],
      [4, 128, 16, 64],
      [6, 128, 32, 128],
      [7, 256, 32, 128],
      [9, 256, 48, 192],
      [10, 384, 48, 192],
      [11, 384, 64, 256],
      [12, 512, 64, 256],
    ];
    this.fires = new Map(spec.map(([i, c, s, e]) => [i, new Fire(store, at(i), c, s, e)]));
    this.lins = LPIPS_SQUEEZE_CHANNELS.map((c, k) => store.conv2d(`lin${k}.model.1.weight`, 1, c, 1, 1));
  }

  static load(tensors: TensorMap, options: { ignore?: RegExp[] } = {}): LpipsSqueeze {
    const { net, store } = buildFromCheckpoint(
      'LPIPS (squeeze)',
      tensors,
      (s) => new LpipsSqueeze(s),
      // The official module also saves its ScalingLayer constants as buffers.
      [/^scaling_layer\.(shift|scale)$/, ...(options.ignore ?? [])],
    );
    net.ownedStore = store;
    return net;
  }

  private fire(i: number, x: tf.Tensor4D): tf.Tensor4D {
    const f = this.fires.get(i);
    if (!f) throw new Error(`LPIPS: no Fire module at features.${i}`);
    return f.apply(x);
  }

  /** The seven ReLU taps of an N x H x W x 3 batch already through the scaling layer. */
  taps(x: tf.Tensor4D): tf.Tensor4D[] {
    const t1 = tf.relu(this.conv0.apply(x));
    const t2 = this.fire(4, this.fire(3, maxPool3s2Ceil(t1)));
    const t3 = this.fire(7, this.fire(6, maxPool3s2Ceil(t2)));
    const t4 = this.fire(9, maxPool3s2Ceil(t3));
    const t5 = this.fire(10, t4);
    const t6 = this.fire(11, t5);
    const t7 = this.fire(12, t6);
    return [t1, t2, t3, t4, t5, t6, t7];
  }

  /**
   * Per-sample LPIPS between two N x H x W x C batches (C = 1 or 3) in [-1, 1]: shape [N]. A
   * single reference image (`b` of batch 1) is compared with every image of `a`.
   */
  distance(a: tf.Tensor4D, b: tf.Tensor4D): tf.Tensor1D {
    const [n, h, w, c] = a.shape;
    const sameImage = a.shape.slice(1).join() === b.shape.slice(1).join();
    if (!sameImage || (b.shape[0] !== n && b.shape[0] !== 1))
      throw new Error(`LPIPS: images of different shapes [${a.shape}] and [${b.shape}]`);
    if (c !== 1 && c !== 3) throw new Error(`LPIPS: images need 1 or 3 channels, got ${c}`);
    if (h < LPIPS_MIN_SIDE || w < LPIPS_MIN_SIDE)
      throw new Error(
        `LPIPS: images must be at least ${LPIPS_MIN_SIDE}x${LPIPS_MIN_SIDE} (SqueezeNet's stride-2 conv and three poolings), got ${h}x${w}`,
      );
    return tf.tidy(() => {
      const both = tf.concat([a, b.shape[0] === n ? b : tf.tile(b, [n, 1, 1, 1])], 0);
      const rgb = c === 1 ? tf.tile(both, [1, 1, 1, 3]) : both;
      const scaled = tf.div(tf.sub(rgb, tf.tensor1d(SHIFT)), tf.tensor1d(SCALE)) as tf.Tensor4D;
      // One pass over both batches: the network runs once on 2N images.
      const taps = this.taps(scaled);
      let total: tf.Tensor1D = tf.zeros([n]);
      taps.forEach((f, k) => {
        const unit = tf.div(f, tf.sqrt(tf.add(tf.sum(tf.square(f), 3, true), 1e-20)));
        const [fa, fb] = tf.split(unit, 2, 0) as [tf.Tensor4D, tf.Tensor4D];
        const weighted = tf.conv2d(
          tf.square(tf.sub(fa, fb)) as tf.Tensor4D,
          this.lins[k] as tf.Tensor4D,
          1,
          'valid',
        );
        total = tf.add(total, tf.mean(weighted, [1, 2, 3])) as tf.Tensor1D;
      });
      return total;
    });
  }

  dispose(): void {
    this.ownedStore?.dispose();
    this.ownedStore = undefined;
  }
}
