// A shared ticking clock for elapsed-time displays and estimated progress bars. It only ticks while at
// least one component holds it (the only timer-driven UI state; everything else follows backend events).

class Clock {
  now = $state(Date.now());
  private users = 0;
  private timer: ReturnType<typeof setInterval> | null = null;

  /** Starts ticking while the returned release function has not been called. */
  hold(): () => void {
    this.users++;
    if (!this.timer) {
      this.now = Date.now();
      this.timer = setInterval(() => (this.now = Date.now()), 250);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.users--;
      if (this.users <= 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = null;
        this.users = 0;
      }
    };
  }
}

export const clock = new Clock();
