import assert from 'node:assert/strict';
import { it } from 'node:test';
import * as qmp from '../../../sdk/qmp/index.ts';

// Pins the QMP layer's runtime surface: a change here is a deliberate API change.
it('sdk/qmp exports exactly its public API', () => {
  assert.deepEqual(Object.keys(qmp).sort(), [
    'DEFAULT_COMMAND_TIMEOUT_MS',
    'DEFAULT_CONNECT_TIMEOUT_MS',
    'DEFAULT_MAX_EVENT_QUEUE',
    'DEFAULT_MAX_LINE_BYTES',
    'EventListener',
    'QMP_STATE_TRANSITIONS',
    'QmpClient',
    'QmpCommandError',
    'QmpDisconnectedError',
    'QmpError',
    'QmpLineParser',
    'QmpProtocolError',
    'QmpStateError',
    'QmpTimeoutError',
    'classifyMessage',
    'parseGreeting',
    'serializeCommand',
  ]);
});
