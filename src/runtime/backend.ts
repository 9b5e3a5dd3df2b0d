/**
 * Backend selection. Preference: tensorflow (tfjs-node-gpu, then tfjs-node: optional
 * dependencies that only install where libtensorflow can be downloaded), then webgpu on a hardware
 * adapter (./webgpu.ts), then wasm, then cpu. The chosen backend is reported, never silently
 * swapped for another one the user asked for.
 */
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { registerWasmKernels } from './kernels/index.js';
import {
  hasVulkanDriver,
  prepareWebgpu,
  releaseWebgpu,
  softwareAllowedByEnv,
  webgpuRoutes,
} from './webgpu.js';

export type BackendName = 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';
export const BACKEND_NAMES: readonly BackendName[] = ['tensorflow', 'webgpu', 'wasm', 'cpu'];

export interface BackendOptions {
  /**
   * An explicitly requested webgpu may run on a software adapter (llvmpipe through Dawn's OpenGL
   * ES route: for tests, 2-5x slower than wasm). Default: the FLOW_WEBGPU_SOFTWARE=1 environment
   * variable. `auto` never picks a software adapter.
   */
  allowSoftwareGpu?: boolean;
}

export interface BackendInfo {
  name: BackendName;
  /** Which package provided it, e.g. '@tensorflow/tfjs-node-gpu'. */
  provider: string;
  /** Why better backends were not used (one line each). */
  skipped: string[];
}

const require = createRequire(import.meta.url);
let wasmRegistered = false;
let current: BackendInfo | undefined;

async function tryTensorflow(): Promise<string> {
  const errors: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      require(pkg);
      if (tf.findBackend('tensorflow')) return pkg;
      errors.push(`${pkg} loaded but registered no 'tensorflow' backend`);
    } catch (e) {
      const msg = firstLine(e);
      errors.push(
        msg.includes('Cannot find module') ? `${pkg} not installed` : `${pkg} failed to load (${msg})`,
      );
    }
  }
  throw new Error(
    errors.every((e) => e.endsWith('not installed')) ? 'tfjs-node(-gpu) not installed' : errors.join('; '),
  );
}

async function registerWasm(): Promise<void> {
  if (wasmRegistered) return;
  await import('@tensorflow/tfjs-backend-wasm');
  wasmRegistered = true;
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0] ?? msg;
}

async function activate(name: BackendName, explicit: boolean, options: BackendOptions): Promise<string> {
  if (name === 'webgpu') {
    if (!explicit && !hasVulkanDriver()) throw new Error('no Vulkan driver installed');
    const adapter = await prepareWebgpu({
      routes: webgpuRoutes(explicit),
      allowSoftware: explicit && (options.allowSoftwareGpu ?? softwareAllowedByEnv()),
    });
    if (!(await tf.setBackend('webgpu'))) throw new Error('webgpu backend failed to initialise');
    return `@tensorflow/tfjs-backend-webgpu, ${adapter}`;
  }
  if (name === 'tensorflow') {
    const pkg = await tryTensorflow();
    if (!(await tf.setBackend('tensorflow'))) throw new Error('tensorflow backend failed to initialise');
    return pkg;
  }
  if (name === 'wasm') {
    await registerWasm();
    registerWasmKernels(); // fast/missing gradient kernels (src/runtime/kernels), idempotent
    if (!(await tf.setBackend('wasm'))) throw new Error('wasm backend failed to initialise');
    return '@tensorflow/tfjs-backend-wasm';
  }
  if (!(await tf.setBackend('cpu'))) throw new Error('cpu backend failed to initialise');
  return '@tensorflow/tfjs-backend-cpu';
}

/**
 * Select a backend. With `requested`, use exactly that one or fail with a clear error; without,
 * take the best that loads. Idempotent for the same request.
 */
export async function initBackend(
  requested?: BackendName,
  options: BackendOptions = {},
): Promise<BackendInfo> {
  if (
    current &&
    (requested === undefined || requested === current.name) &&
    tf.getBackend() === current.name
  ) {
    return current;
  }
  if (requested !== undefined) {
    if (!BACKEND_NAMES.includes(requested)) {
      throw new Error(`unknown backend '${String(requested)}' (choose one of ${BACKEND_NAMES.join(', ')})`);
    }
    try {
      const provider = await activate(requested, true, options);
      current = { name: requested, provider, skipped: [] };
      return current;
    } catch (e) {
      throw new Error(`backend '${requested}' is not available here: ${firstLine(e)}`);
    }
  }
  const skipped: string[] = [];
  for (const name of BACKEND_NAMES) {
    try {
      const provider = await activate(name, false, options);
      current = { name, provider, skipped };
      return current;
    } catch (e) {
      skipped.push(`${name}: ${firstLine(e)}`);
    }
  }
  throw new Error(`no tfjs backend could be initialised: ${skipped.join('; ')}`);
}

export function currentBackend(): BackendInfo | undefined {
  return current;
}

/**
 * Free what keeps native resources alive (the webgpu device), so the process can exit by itself;
 * a later initBackend sets it up again.
 */
export function releaseBackend(): void {
  releaseWebgpu();
  if (current?.name === 'webgpu') current = undefined;
}
