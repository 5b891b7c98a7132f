// Public face of the format domain (a leaf): the fragment file format, and fragment paths and names.
export * from './fragment-format.js';
export { TEMP_MARKER, diskRoot, fragmentPath, parseFragmentName, isTempName } from './paths.js';
export * from './pack-format.js';
