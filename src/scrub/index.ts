// Public face of the scrubber: passes, the background service, schedules and intensity.
export { ScrubService, scrubService, type OnceOptions } from './service.js';
export { SCRUB_STATES, CHECKPOINT_VERSION, type ScrubState } from './checkpoint.js';
export type { ScrubStatus } from './status-view.js';
export { problemsRemain, type PassSummary, type ScrubProblem, type ScrubTotals } from './pass.js';
export { INTENSITIES, PACING, parseDuration, parseIntensity, parseMaxRate, type Intensity } from './intensity.js';
export { nextRunAt, isOverdue, parseWindow, currentWindow, nightlyOffsetMs, FREQUENCIES, INTERVAL_MS } from './schedule.js';
