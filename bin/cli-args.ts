/** Argument parsers the `dht2` commands share (commander argParsers: a bad value is refused with the message). */
import { InvalidArgumentError } from 'commander';

/** A parser of whole numbers from `min` up (safe integers only). */
export function wholeNumber(min: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`must be a whole number >= ${min}`);
    return n;
  };
}
