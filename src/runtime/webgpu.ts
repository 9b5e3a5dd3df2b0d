/**
 * The webgpu backend in Node: Dawn's Node bindings (npm `webgpu`) under
 * `@tensorflow/tfjs-backend-webgpu`, both optional dependencies, loaded only when webgpu is asked
 * for or probed.
 *
 * Adapters are looked for on two routes: 'native' (Vulkan on Linux, Metal on macOS, D3D12 on
 * Windows) and, on Linux, 'opengles' (Dawn's OpenGL ES backend through EGL, headless with
 * EGL_PLATFORM=surfaceless, which needs a compatibility-mode adapter). Software adapters
 * (llvmpipe, lavapipe, SwiftShader) run 2-5x slower than wasm, so they are used only when allowed
 * (FLOW_WEBGPU_SOFTWARE=1): they exist for tests on machines without a GPU.
 *
 * tfjs-backend-webgpu registers its own factory only if navigator.gpu exists when it loads, and
 * that factory asks for a core adapter, which the OpenGL ES route does not give; so it is loaded
 * before navigator.gpu is set and flow registers a factory for the adapter it chose, with the
 * backend adapted to Node (./webgpu-node-backend.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nodeWebgpuBackendClass, registerNodeWebgpuKernels } from './webgpu-node-backend.js';

export type WebgpuRoute = 'native' | 'opengles';

export interface WebgpuOptions {
  /** Routes to try, in order. */
  routes: readonly WebgpuRoute[];
  /** Accept a software adapter (else such an adapter is reported and skipped). */
  allowSoftware: boolean;
}

/** The environment switch that lets an explicit `--backend webgpu` use a software adapter. */
export const SOFTWARE_ENV = 'FLOW_WEBGPU_SOFTWARE';

interface Active {
  gpu: GPU;
  device: GPUDevice;
  description: string;
}

let active: Active | undefined;

export function softwareAllowedByEnv(): boolean {
  return process.env[SOFTWARE_ENV] === '1';
}

/** The routes worth trying on this platform; `auto` tries only the native one (no GLES probe). */
export function webgpuRoutes(explicit: boolean): WebgpuRoute[] {
  return explicit && process.platform === 'linux' ? ['native', 'opengles'] : ['native'];
}

/**
 * Whether a Vulkan driver is installed (a loader manifest in the standard places, or named by the
 * loader's environment variables). Lets `auto` skip loading Dawn, and its warnings, on Linux
 * machines that cannot have a hardware adapter.
 */
export function hasVulkanDriver(): boolean {
  if (process.platform !== 'linux') return true;
  if (process.env.VK_DRIVER_FILES || process.env.VK_ICD_FILENAMES) return true;
  const dirs = [
    ...(process.env.XDG_CONFIG_DIRS ?? '/etc/xdg').split(':'),
    '/etc',
    ...(process.env.XDG_DATA_DIRS ?? '/usr/local/share:/usr/share').split(':'),
    path.join(os.homedir(), '.local/share'),
  ].map((d) => path.join(d, 'vulkan/icd.d'));
  return dirs.some((d) => existsSync(d) && readdirSync(d).some((f) => f.endsWith('.json')));
}

const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|basic render driver|software/i;

function describeAdapter(info: GPUAdapterInfo): { name: string; software: boolean } {
  const text = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ');
  const fallback = (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  return { name: text || 'unnamed adapter', software: fallback || SOFTWARE_ADAPTER.test(text) };
}

type Dawn = typeof import('webgpu');

async function loadDawn(): Promise<Dawn> {
  try {
    return await import('webgpu');
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(
      /Cannot find (module|package)/.test(msg)
        ? `the optional package 'webgpu' is not installed (npm install webgpu @tensorflow/tfjs-backend-webgpu)`
        : `Dawn's Node bindings (npm 'webgpu') failed to load: ${msg.split('\n')[0]}`,
    );
  }
}

async function requestAdapter(
  dawn: Dawn,
  route: WebgpuRoute,
): Promise<{ gpu: GPU; adapter: GPUAdapter | null }> {
  if (route === 'native') {
    const gpu = dawn.create([]);
    return { gpu, adapter: await gpu.requestAdapter({ powerPreference: 'high-performance' }) };
  }
  process.env.EGL_PLATFORM ??= 'surfaceless'; // headless EGL: no X or Wayland display needed
  const gpu = dawn.create(['backend=opengles']);
  const options = { powerPreference: 'high-performance', featureLevel: 'compatibility' } as const;
  return { gpu, adapter: await gpu.requestAdapter(options) };
}

/** The device with the limits tfjs-backend-webgpu asks for (as its own factory does). */
function requestDevice(adapter: GPUAdapter): Promise<GPUDevice> {
  const l = adapter.limits;
  return adapter.requestDevice({
    requiredFeatures: adapter.features.has('timestamp-query') ? ['timestamp-query'] : [],
    requiredLimits: {
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    },
  });
}

function noAdapterError(found: string[], allowSoftware: boolean): Error {
  const install =
    'install a GPU driver with Vulkan (libvulkan1 plus e.g. the NVIDIA driver or mesa-vulkan-drivers), ' +
    "or for Dawn's OpenGL ES route libegl1 and libegl-mesa0 (flow sets EGL_PLATFORM=surfaceless)";
  const softwareOnly = !allowSoftware && found.some((f) => f.includes('software adapter'));
  return new Error(
    softwareOnly
      ? `only a software WebGPU adapter found (${found.join('; ')}): set ${SOFTWARE_ENV}=1 to use it ` +
          `anyway (2-5x slower than wasm), or ${install}`
      : `no WebGPU adapter found (${found.join('; ')}): ${install}`,
  );
}

/** The global navigator, made to carry `gpu` (Node 20 has no navigator; Node 21+ has one). */
function globalNavigator(): { gpu?: GPU } {
  const g = globalThis as { navigator?: { gpu?: GPU } };
  g.navigator ??= {};
  return g.navigator;
}

/**
 * Find an adapter, create its device and register tfjs's 'webgpu' backend on it (idempotent).
 * Returns a description of the adapter for the backend report.
 */
export async function prepareWebgpu(options: WebgpuOptions): Promise<string> {
  if (active) return active.description;
  const dawn = await loadDawn();
  Object.assign(globalThis, dawn.globals); // GPUBufferUsage and friends, used by the backend
  const found: string[] = [];
  for (const route of options.routes) {
    if (route === 'native' && !hasVulkanDriver()) {
      found.push('native: no Vulkan driver'); // Dawn would only print a warning and find nothing
      continue;
    }
    const { gpu, adapter } = await requestAdapter(dawn, route);
    if (!adapter) {
      found.push(`${route}: none`);
      continue;
    }
    const { name, software } = describeAdapter(adapter.info);
    if (software && !options.allowSoftware) {
      found.push(`${route}: software adapter ${name}`);
      continue;
    }
    const device = await requestDevice(adapter);
    let module: typeof import('@tensorflow/tfjs-backend-webgpu');
    try {
      module = await import('@tensorflow/tfjs-backend-webgpu');
    } catch {
      device.destroy();
      throw new Error(
        `the optional package @tensorflow/tfjs-backend-webgpu is not installed (npm install @tensorflow/tfjs-backend-webgpu)`,
      );
    }
    globalNavigator().gpu = gpu; // the backend's constructor checks navigator.gpu
    if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
    const info = adapter.info;
    registerNodeWebgpuKernels();
    const Backend = nodeWebgpuBackendClass(module.WebGPUBackend);
    tf.registerBackend('webgpu', () => new Backend(device, info), 1);
    const description = `${route === 'native' ? 'Dawn native' : 'Dawn OpenGL ES'}: ${name}${software ? ', software' : ''}`;
    active = { gpu, device, description };
    return description;
  }
  throw noAdapterError(found, options.allowSoftware);
}

/**
 * Dispose the webgpu backend and its device and drop navigator.gpu, so that nothing native keeps
 * the process alive. Safe to call when webgpu was never used.
 */
export function releaseWebgpu(): void {
  if (!active) return;
  if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu'); // disposes the backend too
  active.device.destroy();
  const nav = globalNavigator();
  if (nav.gpu === active.gpu) delete nav.gpu;
  active = undefined;
}
