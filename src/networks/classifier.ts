/**
 * The small Fashion-MNIST classifier (models/fashion-classifier): a plain CNN on 32 x 32 x 1 images
 * in [-1, 1], used to measure the priors (class agreement) and as the feature network for KID on
 * this domain (`penultimateFeatures`). Its PyTorch twin, with the same state_dict keys, is
 * scripts/train/torch_models.py `FashionClassifier`; the trained weights come from
 * scripts/train/classifier.py.
 *
 * Layers (all 3x3 convolutions stride 1 with zero padding 1, ReLU after every layer but the last):
 *   conv1 1->c0, maxpool 2 -> conv2 c0->c1 -> conv3 c1->c2, maxpool 2 -> conv4 c2->c3, maxpool 2
 *   -> flatten in PyTorch's (C, H, W) order -> fc1 (c3 * 4 * 4 -> hidden) -> fc2 (hidden -> classes).
 * Default channels [32, 64, 64, 128], hidden 128, 10 classes. Dropout (training only) is absent here.
 * Max pooling: in a 400-step comparison it trained much faster than average pooling (87% vs 84%).
 */
import * as tf from '@tensorflow/tfjs';
import type { TensorMap } from '../checkpoint/types.js';
import { Conv2d, Linear } from './layers.js';
import { buildFromCheckpoint, type WeightStore } from './weights.js';

/** 2x2 max pooling, stride 2 (F.max_pool2d(x, 2)). Its input gradient on wasm comes from the
 *  project's MaxPoolGrad kernel (src/runtime/kernels), installed by initBackend. */
function maxPool2x(x: tf.Tensor4D): tf.Tensor4D {
  return tf.maxPool(x, 2, 2, 'valid');
}

export interface ClassifierConfig {
  in_channels: number;
  resolution: number;
  num_classes: number;
  /** Output channels of conv1..conv4. */
  channels: [number, number, number, number];
  /** Width of fc1: the penultimate features. */
  hidden: number;
}

export const FASHION_CLASSIFIER_CONFIG: ClassifierConfig = {
  in_channels: 1,
  resolution: 32,
  num_classes: 10,
  channels: [32, 64, 64, 128],
  hidden: 128,
};

export class Classifier {
  private readonly conv1: Conv2d;
  private readonly conv2: Conv2d;
  private readonly conv3: Conv2d;
  private readonly conv4: Conv2d;
  private readonly fc1: Linear;
  private readonly fc2: Linear;
  private readonly flatSize: number;
  private ownedStore: WeightStore | undefined;

  constructor(
    store: WeightStore,
    readonly config: ClassifierConfig,
    prefix = '',
  ) {
    const [c0, c1, c2, c3] = config.channels;
    if (config.resolution % 8 !== 0) {
      throw new Error(
        `Classifier: resolution ${config.resolution} is not a multiple of 8 (three 2x poolings)`,
      );
    }
    const p = prefix;
    this.conv1 = new Conv2d(store, `${p}conv1`, config.in_channels, c0, 3, { padding: 1 });
    this.conv2 = new Conv2d(store, `${p}conv2`, c0, c1, 3, { padding: 1 });
    this.conv3 = new Conv2d(store, `${p}conv3`, c1, c2, 3, { padding: 1 });
    this.conv4 = new Conv2d(store, `${p}conv4`, c2, c3, 3, { padding: 1 });
    const side = config.resolution / 8;
    this.flatSize = c3 * side * side;
    this.fc1 = new Linear(store, `${p}fc1`, this.flatSize, config.hidden);
    this.fc2 = new Linear(store, `${p}fc2`, config.hidden, config.num_classes);
  }

  /** Build from a state_dict (WeightError lists every missing / mis-shaped / unexpected key). */
  static load(
    tensors: TensorMap,
    config: ClassifierConfig = FASHION_CLASSIFIER_CONFIG,
    options: { prefix?: string; ignore?: RegExp[] } = {},
  ): Classifier {
    const { net, store } = buildFromCheckpoint(
      'Classifier',
      tensors,
      (s) => new Classifier(s, config, options.prefix ?? ''),
      options.ignore ?? [],
    );
    net.ownedStore = store;
    return net;
  }

  private checkInput(x: tf.Tensor4D): void {
    const { resolution: r, in_channels: c } = this.config;
    const [, h, w, ch] = x.shape;
    if (h !== r || w !== r || ch !== c) {
      throw new Error(
        `Classifier: expected N x ${r} x ${r} x ${c} input in [-1, 1], got [${x.shape.join(', ')}]`,
      );
    }
  }

  /** The 'hidden'-wide ReLU output of fc1 for a batch N x H x W x C in [-1, 1]: N x hidden. */
  penultimateFeatures(x: tf.Tensor4D): tf.Tensor2D {
    this.checkInput(x);
    return tf.tidy(() => {
      let h = maxPool2x(tf.relu(this.conv1.apply(x)));
      h = tf.relu(this.conv3.apply(tf.relu(this.conv2.apply(h))));
      h = maxPool2x(h);
      h = maxPool2x(tf.relu(this.conv4.apply(h)));
      // PyTorch flattens N x C x H x W: move channels first so fc1's weight columns line up.
      const flat = tf.reshape(tf.transpose(h, [0, 3, 1, 2]), [x.shape[0], this.flatSize]) as tf.Tensor2D;
      return tf.relu(this.fc1.apply(flat));
    });
  }

  /** Class logits N x num_classes. */
  logits(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => this.fc2.apply(this.penultimateFeatures(x)));
  }

  /** Most likely class per image. */
  async predict(x: tf.Tensor4D): Promise<number[]> {
    const l = this.logits(x);
    const idx = tf.argMax(l, 1);
    const out = Array.from(await idx.data());
    tf.dispose([l, idx]);
    return out;
  }

  dispose(): void {
    this.ownedStore?.dispose();
    this.ownedStore = undefined;
  }
}
