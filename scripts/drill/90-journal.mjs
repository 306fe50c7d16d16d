// Drill stage, last: the state of every key, and the journal everything above wrote.
export default async function journalStage(drill) {
  drill.step("Status of every key (findings such as a disabled key are exit 4)", ["status"], { expect: [0, 4] });
  drill.step("What will be overdue in 400 days", ["status", "--at", "400d"], { expect: [4] });
  drill.step("The journal", ["log", "show"]);
  drill.step("Verify the internkontroll journal", ["log", "verify"]);
}
