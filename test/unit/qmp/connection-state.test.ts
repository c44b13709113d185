import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectionStateMachine, QMP_STATE_TRANSITIONS } from '../../../sdk/qmp/connection-state.ts';
import type { QmpConnectionState } from '../../../sdk/qmp/connection-state.ts';
import { QmpError, QmpStateError } from '../../../sdk/qmp/qmp-errors.ts';

const states = Object.keys(QMP_STATE_TRANSITIONS) as QmpConnectionState[];

function machineIn(state: QmpConnectionState): ConnectionStateMachine {
  const path: Record<QmpConnectionState, QmpConnectionState[]> = {
    idle: [],
    connecting: ['connecting'],
    running: ['connecting', 'running'],
    disconnecting: ['connecting', 'running', 'disconnecting'],
    closed: ['connecting', 'running', 'disconnecting', 'closed'],
  };
  const machine = new ConnectionStateMachine('a/web');
  for (const next of path[state]) machine.transition(next);
  return machine;
}

describe('ConnectionStateMachine', () => {
  it('starts idle and walks the happy path', () => {
    assert.equal(new ConnectionStateMachine().current, 'idle');
    assert.equal(machineIn('closed').current, 'closed');
  });

  it('allows exactly the transitions in the table', () => {
    for (const from of states) {
      for (const to of states) {
        const machine = machineIn(from);
        if (QMP_STATE_TRANSITIONS[from].includes(to)) machine.transition(to);
        else assert.throws(() => machine.transition(to), (error: unknown) => error instanceof QmpError && error.code === 'QMP_INTERNAL');
      }
    }
  });

  it('closed is final', () => {
    assert.deepEqual(QMP_STATE_TRANSITIONS.closed, []);
  });

  it('guards a method with a QmpStateError naming it and the state', () => {
    for (const state of states) {
      const machine = machineIn(state);
      if (state === 'running') {
        machine.require('execute', 'running');
        continue;
      }
      assert.throws(
        () => machine.require('execute', 'running'),
        (error: unknown) =>
          error instanceof QmpStateError &&
          error.method === 'execute' &&
          error.state === state &&
          error.message.startsWith(`a/web: cannot call execute() while the QMP connection is ${state}`),
      );
    }
  });

  it('tells the caller to reconnect once the connection is ending', () => {
    assert.throws(() => machineIn('closed').require('execute', 'running'), /connect a new QmpClient/);
  });
});
