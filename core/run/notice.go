package run

// NoticeKind names a milestone of a run that people may want to hear of.
type NoticeKind string

// The notice kinds.
const (
	// NoticeFinished: the run reached a final status (Notice.Status).
	NoticeFinished NoticeKind = "finished"
	// NoticeApproval: the run waits for an approval (Notice.ApprovalID),
	// before it starts (a command guard asked for one) or at an approval
	// step (Notice.Step).
	NoticeApproval NoticeKind = "approval"
)

// Notice is one milestone of a run. The engine gives each to its Notifier
// once, from the replica whose transition applied, after it is stored.
type Notice struct {
	Kind       NoticeKind
	Run        Run
	Status     RunStatus // the run's status after the milestone
	ApprovalID string    // NoticeApproval
	Step       string    // NoticeApproval at an approval step
	// Reason says why, in words: the guard rule that asked for approval,
	// why an aborted run ended ("deadline", "run_canceled").
	Reason string
}
