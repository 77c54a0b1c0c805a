/** A gate a hook in the code under test waits at until the test opens it. */
export class Gate {
  /** Resolves once the code under test has reached the gate. */
  readonly reached: Promise<void>;
  private arrive: () => void = () => undefined;
  private release: () => void = () => undefined;
  private readonly opened = new Promise<void>((r) => (this.release = r));

  constructor() {
    this.reached = new Promise((r) => (this.arrive = r));
  }

  /** Called by the code under test: signals arrival, then waits to be let through. */
  pass(): Promise<void> {
    this.arrive();
    return this.opened;
  }

  open(): void {
    this.release();
  }
}
