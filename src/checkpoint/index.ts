/** Public API of checkpoint import (see README.md in this folder). */
export type { CheckpointDType, RawTensor, TensorMap } from './types.js';
export { CheckpointError } from './errors.js';
export {
  readSafetensors,
  readSafetensorsFile,
  readSafetensorsWithMetadata,
  readSafetensorsFileWithMetadata,
  readSafetensorsHeader,
  writeSafetensors,
  writeSafetensorsFile,
} from './safetensors.js';
export type {
  SafetensorsContents,
  SafetensorsEntry,
  SafetensorsHeader,
  WritableTensor,
} from './safetensors.js';
export { readTorchCheckpoint, scanTorchCheckpoint, unpickleTorch } from './torch.js';
export type {
  TorchCheckpoint,
  TorchCheckpointMeta,
  TorchFormat,
  TorchReadOptions,
  TorchScan,
} from './torch.js';
export { readCheckpoint, looksLikeSafetensors } from './read.js';
export type { CheckpointFormat, LoadedCheckpoint } from './read.js';
export { selectWeights, stripPrefix, withoutPrefixes, hasPrefix, detectEma } from './select.js';
export type { Selection, SelectOptions, EmaPresence } from './select.js';
export { inspectCheckpoint, renderCheckpointSummary } from './inspect.js';
export type { CheckpointSummary, InspectOptions, TensorGroup } from './inspect.js';
export { unpickle, unpickleAt } from './pickle.js';
export type { UnpickleOptions } from './pickle.js';
