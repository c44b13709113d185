// The QMP layer: one QEMU's monitor over any duplex stream.
export { QmpClient, DEFAULT_COMMAND_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS } from './qmp-client.ts';
export type { QmpConnectOptions, QmpExecuteOptions } from './qmp-client.ts';
export { EventListener, DEFAULT_MAX_EVENT_QUEUE } from './event-listener.ts';
export type { EventListenerOptions, QmpEventFilter } from './event-listener.ts';
export { QMP_STATE_TRANSITIONS } from './connection-state.ts';
export type { QmpConnectionState } from './connection-state.ts';
export { QmpLineParser, serializeCommand, parseGreeting, classifyMessage, DEFAULT_MAX_LINE_BYTES } from './qmp-framing.ts';
export type { QmpCommandMessage, QmpIncoming, QmpJsonObject } from './qmp-framing.ts';
export {
  QmpError,
  QmpCommandError,
  QmpProtocolError,
  QmpStateError,
  QmpDisconnectedError,
  QmpTimeoutError,
} from './qmp-errors.ts';
export type * from './qmp-types.ts';
