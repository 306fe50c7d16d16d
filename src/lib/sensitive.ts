// Secret values this process has handled (generated secrets, data keys in text form). The
// journal refuses any entry that contains one: a last line of defence, not the only one.

const registered = new Set<string>();

/** Register a secret's text forms (hex, base64...) for the lifetime of the process. */
export function registerSecret(...forms: string[]): void {
  for (const form of forms) if (form.length >= 16) registered.add(form);
}

export function forgetSecrets(): void {
  registered.clear();
}

/** A short description of the first registered secret found in `text`, or undefined. */
export function leakedSecret(text: string): string | undefined {
  for (const secret of registered) {
    if (text.includes(secret)) return `${secret.length} characters`;
  }
  return undefined;
}
