// Node's and Bun's REPLs take top-level await; Deno's node:repl does not.
// Where the REPL lacks it, code that awaits runs through this shim instead.

type AsyncFunctionConstructor = new (...args: string[]) => () => Promise<unknown>;
const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as AsyncFunctionConstructor;

/**
 * An async function body for `code` that returns the value of its last
 * expression; top-level `const`/`let`/`var` become assignments to globals,
 * so that what one line defines the next can use, as in Node's REPL.
 * Returns undefined when `code` does not await (the REPL's own eval serves).
 *
 * @example
 * awaitBody('const r = await p') // '(r = await p);'
 */
export function awaitBody(code: string): string | undefined {
  if (!/\bawait\b/.test(code)) return undefined;
  const expression = code.trim().replace(/;\s*$/, '');
  if (compiles(`return (${expression}\n);`)) return `return (${expression}\n);`;
  const lines = code.split('\n').map((line) => {
    const declaration = /^(\s*)(?:const|let|var)\s+(.+?);?\s*$/.exec(line);
    return declaration ? `${declaration[1]}(${declaration[2]});` : line;
  });
  const last = lines.at(-1)?.trim().replace(/;$/, '') ?? '';
  if (last && compiles(`return (${last});`)) lines[lines.length - 1] = `return (${last});`;
  return lines.join('\n');
}

function compiles(body: string): boolean {
  try {
    new AsyncFunction(body);
    return true;
  } catch {
    return false;
  }
}

/** Runs `code` (which awaits) in the global scope and settles with its value. */
export async function evalWithAwait(code: string): Promise<unknown> {
  const body = awaitBody(code) ?? code;
  return await new AsyncFunction(body)();
}

/** Whether this REPL's own eval accepts top-level await (probed once, with a harmless expression). */
export function probeTopLevelAwait(evaluate: (code: string, callback: (error: Error | null, value: unknown) => void) => void): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), 2000);
    try {
      evaluate('await Promise.resolve(42)\n', (error, value) => {
        clearTimeout(timer);
        resolve(!error && value === 42);
      });
    } catch {
      clearTimeout(timer);
      resolve(false);
    }
  });
}
