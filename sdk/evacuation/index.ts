// The evacuation layer: many migrations off one host. Only sdk/api and sdk/index.ts import it.
export { Evacuation } from './evacuation.ts';
export { EvacuationOptionsError } from './evacuation-errors.ts';
export { markMaintenance, clearMaintenance, readMaintenance, MAINTENANCE_MARKER, type MaintenanceMark } from './maintenance.ts';
export { defaultJournalPath, readJournal, endsTorn, type JournalEntry, type JournalLine } from './evacuation-journal.ts';
export { surveyHost, type HostSurvey, type SurveyedVm } from './host-survey.ts';
export type { EvacuateOptions, EvacuationOrder } from './evacuation-options.ts';
export type { EvacuationReport, VmOutcome, MovedVm, FailedVm, SkippedVm, PlannedVm } from './evacuation-report.ts';
export type { EvacuationEventMap, EvacuationLogEntry } from './evacuation-events.ts';
