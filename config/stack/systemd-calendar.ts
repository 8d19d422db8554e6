// A systemd OnCalendar value as the stack settings take one (backupSchedule, reportSchedule):
// what OnCalendar reads, and nothing a unit file or a shell would read otherwise.

/** True when `value` is made only of what an OnCalendar expression ("daily", "*-*-* 03:00") uses. */
export function isOnCalendar(value: string): boolean {
  return /^[A-Za-z0-9*:,./ -]+$/.test(value);
}
