// Drill stage: the policy (the bundled Drop policy pointed at the emulators).
export default async function policyStage(drill) {
  drill.step("Check the policy", ["policy", "check"]);
}
