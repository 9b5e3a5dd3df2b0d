/**
 * Refinement from T_s to the clean end (docs/method.md section 5, step 2): prior steps plus a DPS-style
 * likelihood gradient at every step,
 *
 *   z_next = prior_step(z_t; x_hat(z_t, t)) - zeta * grad_{z_t} loss(D(x_hat(z_t, t))),
 *
 * loss defaulting to DPS's ||y - A(x)|| per sample (any per-sample image loss can be given, e.g.
 * the Laplace term plus a perceptual term as the authors' code uses). The gradient flows through
 * the denoiser and the decoder; the step and the gradient come from the SAME network call (one
 * 'gradient' call per step). Per-sample losses are summed before differentiating, so each sample
 * gets its own gradient.
 *
 * Choices:
 * - Prior step: DDIM (VP) with eta on the STD (the authors' refinement sampler; default 0.2 as the
 *   keypoints' eta), ancestral for VE/EDM.
 * - Times: `steps` evenly spaced integer steps from T_s (VP discrete) or rho = 7 spacing in
 *   sigma/alpha down to tMin (continuous); the step after the last time goes to the clean level.
 * - Defaults: the paper's refinement (docs/method.md "Budget"): every step from T_s to 0 on a
 *   discrete schedule (T_s + 1 calls: 401 from T_s = 400), 700 steps on a continuous one (the
 *   paper's EDM setting); zeta 2 (VP) / 5 (VE/EDM) as docs/method.md section 5 lists them. Those scales
 *   were tuned for the paper's losses; tune zeta for your loss. At a smaller budget pass `steps`.
 * - The result is the decoded image batch clipped to [-1, 1].
 */
import * as tf from '@tensorflow/tfjs';
import { countCalls } from '../../networks/denoiser.js';
import type { MeasurementOperator } from '../../physics/operator.js';
import { ancestralStep } from '../../sampling/ancestral.js';
import { ddimStep, ddimStepMeanStd } from '../../sampling/ddim.js';
import { CLEAN, type TimeOrLevel } from '../../schedules/types.js';
import type { Rng } from '../../util/random.js';
import { l2Residual, withPerceptual, type ImageLoss, type PerceptualOption } from '../likelihood.js';
import type { CallReporter, DiffusionPrior } from '../prior.js';
import type { PriorStepRule } from './config.js';
import { refineTimes } from './times.js';
import { emitPreview, type PreviewSink } from '../../io/preview.js';
import { checkFinite, checkProblem } from './validate.js';
import { clipImage } from '../../util/clip-image.js';

export interface RefineProgress {
  step: number;
  total: number;
  t: number;
  /** Batch mean of the guidance loss at this step. */
  loss: number;
}

export interface RefineOptions {
  /** T_s: the time z_{T_s} lives at. */
  from: number;
  rng: Rng;
  steps?: number;
  zeta?: number;
  stepRule?: PriorStepRule;
  /** DDIM eta (std convention) for 'ddim' steps, default 0.2. */
  eta?: number;
  /** Per-sample loss of decoded images (default: ||y - A(x)||). */
  loss?: ImageLoss;
  /** Adds weight * loss(A(x) masked, y masked) to the guidance loss (e.g. LPIPS, as the paper for LDMs). */
  perceptual?: PerceptualOption;
  signal?: AbortSignal;
  onProgress?: (p: RefineProgress) => void;
  onCalls?: CallReporter;
  /** Previews: the decoded x_hat(z_t, t) of the step. */
  preview?: PreviewSink;
}

/** The paper's refinement length: every step from T_s to 0 (discrete), 700 steps (continuous, EDM). */
export function defaultRefineSteps(schedule: { discrete: boolean }, from: number): number {
  return schedule.discrete ? Math.round(from) + 1 : 700;
}

export async function refineWithLikelihood(
  prior: DiffusionPrior,
  op: MeasurementOperator,
  zTs: tf.Tensor4D,
  options: RefineOptions,
): Promise<tf.Tensor4D> {
  await checkProblem(prior, op);
  const schedule = prior.denoiser.schedule;
  if (zTs.shape.slice(1).join('x') !== prior.latentShape.join('x')) {
    throw new Error(
      `vipaint refine: z_{T_s} is [${zTs.shape}] but the prior's diffusion space is ${prior.latentShape.join('x')}`,
    );
  }
  await checkFinite(zTs, 'z_{T_s}');
  const rule = options.stepRule ?? (schedule.kind === 'vp' ? 'ddim' : 'ancestral');
  const eta = options.eta ?? 0.2;
  const zeta = options.zeta ?? (schedule.kind === 'vp' ? 2 : 5);
  if (!(Number.isFinite(zeta) && zeta >= 0))
    throw new Error(`vipaint refine: zeta must be finite and >= 0, got ${zeta}`);
  const times = refineTimes(
    schedule,
    options.from,
    options.steps ?? defaultRefineSteps(schedule, options.from),
  );
  const dataLoss: ImageLoss = options.loss ?? ((x) => l2Residual(op, x));
  const loss: ImageLoss = withPerceptual(op, dataLoss, options.perceptual);
  const denoiser = countCalls(prior.denoiser, () => options.onCalls?.('gradient', 1));

  let z = tf.clone(zTs);
  try {
    for (let i = 0; i < times.length; i++) {
      options.signal?.throwIfAborted();
      const t = times[i] as number;
      const s: TimeOrLevel = i + 1 < times.length ? (times[i + 1] as number) : CLEAN;
      let x0: tf.Tensor4D | undefined;
      const { value, grad } = tf.valueAndGrad((zt: tf.Tensor4D) => {
        const pred = denoiser.predictX0(zt, t);
        x0 = tf.keep(pred);
        return tf.sum(loss(prior.decode(pred))) as tf.Scalar;
      })(z);
      const lossValue = ((await value.data())[0] as number) / z.shape[0];
      value.dispose();
      try {
        if (!Number.isFinite(lossValue))
          throw new Error(`vipaint refine: step ${i + 1} (t = ${t}): the loss is ${lossValue}`);
        const next = tf.tidy(() => {
          const std = rule === 'ddim' ? ddimStepMeanStd(schedule, t, s, eta, 'std').std : 1;
          const noise = std > 0 && s !== CLEAN ? options.rng.normalTensor(z.shape) : undefined;
          const stepped =
            rule === 'ddim'
              ? ddimStep(schedule, { zt: z, x0, t, s, eta, etaScales: 'std', noise })
              : ancestralStep(schedule, { zt: z, x0, t, s, noise });
          return tf.sub(stepped, tf.mul(grad, zeta)) as tf.Tensor4D;
        });
        z.dispose();
        z = next;
        emitPreview(options.preview, i + 1, times.length, () => prior.decode(x0 as tf.Tensor4D));
      } finally {
        grad.dispose();
        (x0 as tf.Tensor4D | undefined)?.dispose();
      }
      options.onProgress?.({ step: i + 1, total: times.length, t, loss: lossValue });
      await new Promise((resolve) => setImmediate(resolve));
    }
    const out = tf.tidy(() => clipImage(prior.decode(z)));
    return out;
  } finally {
    z.dispose();
  }
}
