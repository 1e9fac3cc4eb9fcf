// A run's steps as the page holds them: the newest view of each, in the run's order. Views come
// from trace reads and from events, in any order; each is labelled with the run sequence number
// it is at least as new as, so an older view never replaces a newer one.
import type { StepView } from "../bindings/StepView";

export class StepTable {
  /** In ordinal order. */
  readonly list: StepView[] = [];
  private index = new Map<string, number>();
  private seq = new Map<string, number>();

  get(key: string): StepView | undefined {
    const i = this.index.get(key);
    return i === undefined ? undefined : this.list[i];
  }

  /** The run sequence number the held view of `key` is at least as new as (-1: none held). */
  seqOf(key: string): number {
    return this.seq.get(key) ?? -1;
  }

  /** Steps read at run sequence `seq` (a page of the trace). */
  putRead(steps: readonly StepView[], seq: number) {
    let added = false;
    for (const s of steps) {
      const i = this.index.get(s.key);
      if (i === undefined) {
        this.list.push(s);
        added = true;
      } else if (this.seqOf(s.key) <= seq) this.list[i] = s;
      else continue;
      this.seq.set(s.key, seq);
    }
    if (added) this.reorder();
  }

  /** A step's view from the event numbered `seq`. */
  putEvent(next: StepView, seq: number) {
    if (this.seqOf(next.key) > seq) return;
    this.seq.set(next.key, seq);
    const i = this.index.get(next.key);
    if (i !== undefined) {
      this.list[i] = keepPayloads(this.list[i], next);
      return;
    }
    const last = this.list[this.list.length - 1];
    this.list.push(next);
    if (last && last.ordinal > next.ordinal) this.reorder();
    else this.index.set(next.key, this.list.length - 1);
  }

  /** A step read whole (`runs_get_step`) while the view held was labelled `seqBefore`; dropped
   * when an event brought a newer view meanwhile. */
  putWhole(full: StepView, seqBefore: number): boolean {
    const i = this.index.get(full.key);
    if (i === undefined || this.seqOf(full.key) > seqBefore) return false;
    this.list[i] = full;
    return true;
  }

  /** Ordinal order again, after pages or events brought steps out of order. */
  private reorder() {
    this.list.sort((a, b) => a.ordinal - b.ordinal);
    this.index.clear();
    this.list.forEach((s, i) => this.index.set(s.key, i));
  }
}

/** An event's view without its large payloads, completed from the view held where that is
 * safe: a step's input never changes, and its output only once, when it finishes. */
function keepPayloads(held: StepView, next: StepView): StepView {
  if (!next.payloads_omitted || held.payloads_omitted) return next;
  const input = next.input === null ? held.input : next.input;
  let output = next.output;
  let omitted = false;
  if (output === null && next.finished_at !== null) {
    if (held.output !== null) output = held.output;
    // Finished with an output never seen: it is the one left out.
    else omitted = true;
  }
  return { ...next, input, output, payloads_omitted: omitted };
}
