// Where the live view goes: a frame redrawn in place on a terminal (log-update), or one plain line per change
// when stdout is a file or a pipe (CI logs, tests).
import { createLogUpdate } from 'log-update';
import { changeLines, PhaseClock, renderFrame, type View } from './view';

export interface Display {
  /** A message that stays (above the live frame on a terminal). */
  note(text: string): void;
  update(view: View): void;
  /** Final frame; nothing is redrawn after this. Idempotent. */
  done(): void;
}

export function plainDisplay(write: (text: string) => void, started = Date.now()): Display {
  let previous: View | undefined;
  return {
    note: (text) => write(`${text}\n`),
    update: (view) => {
      const lines = changeLines(previous, view, Date.now() - started);
      if (lines.length > 0) write(`${lines.join('\n')}\n`);
      previous = view;
    },
    done: () => undefined,
  };
}

export function terminalDisplay(stream: NodeJS.WriteStream): Display {
  const frame = createLogUpdate(stream, { showCursor: false });
  const clock = new PhaseClock();
  let view: View | undefined;
  let finished = false;
  const draw = () => view && !finished && frame(renderFrame(view, clock, Date.now()));
  // Time in phase ticks on even without changes.
  const ticker = setInterval(draw, 1000);
  ticker.unref();
  return {
    note: (text) => {
      if (finished) return void stream.write(`${text}\n`);
      frame.persist(text);
      draw();
    },
    update: (next) => {
      view = next;
      draw();
    },
    done: () => {
      if (finished) return;
      clearInterval(ticker);
      draw();
      frame.done();
      finished = true;
    },
  };
}
