// Package inventory manages what jobgraph runs on: hosts, host groups and
// the credentials used to reach them, all within a project.
//
// A host is a named target with an address, an optional port (nil means the
// executor's default: 22 for SSH, 5985 for WinRM), an OS, labels, and
// optionally a default executor and credential. A host group is either a
// static list of hosts or a label selector (see package labels) that is
// resolved when it is used, so hosts that gain a label join the group without
// anyone editing it.
//
// Credentials are write-only: the Service seals the secret with the Sealer it
// is given (AES-256-GCM in production, see package secrets) before it reaches
// the store, binds the ciphertext to the credential's ID, and no method
// returns the secret except Service.OpenSecret, which exists for the engine.
//
// The Service validates every input completely before anything is written and
// does every multi-step change in one transaction, so a failed mutation leaves
// nothing behind.
package inventory
