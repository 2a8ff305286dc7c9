package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/approval"
)

type approvalRow struct {
	ID          string `gorm:"primaryKey"`
	ProjectID   string
	RunID       string
	StepRunID   *string
	Step        string
	Role        string
	Required    int
	Status      string
	Message     string
	Reason      string
	RequestedBy string
	Approvals   int
	Rejections  int
	Deadline    time.Time
	CreatedAt   time.Time `gorm:"autoCreateTime:false"`
	DecidedAt   *time.Time
}

func (approvalRow) TableName() string { return "approvals" }

type approvalVoteRow struct {
	ApprovalID string `gorm:"primaryKey"`
	UserID     string `gorm:"primaryKey"`
	Decision   string
	Comment    string
	At         time.Time
}

func (approvalVoteRow) TableName() string { return "approval_votes" }

func approvalFromCore(a approval.Approval) approvalRow {
	return approvalRow{
		ID: a.ID, ProjectID: a.ProjectID, RunID: a.RunID, StepRunID: nilIfEmpty(a.StepRunID), Step: a.Step,
		Role: a.Role, Required: a.Required, Status: string(a.Status), Message: a.Message, Reason: a.Reason,
		RequestedBy: a.RequestedBy, Deadline: a.Deadline.UTC(), CreatedAt: a.CreatedAt.UTC(), DecidedAt: a.DecidedAt,
	}
}

func (r approvalRow) toCore() approval.Approval {
	return approval.Approval{
		ID: r.ID, ProjectID: r.ProjectID, RunID: r.RunID, StepRunID: emptyIfNil(r.StepRunID), Step: r.Step,
		Role: r.Role, Required: r.Required, Status: approval.Status(r.Status), Message: r.Message, Reason: r.Reason,
		RequestedBy: r.RequestedBy, Deadline: r.Deadline.UTC(), CreatedAt: r.CreatedAt.UTC(), DecidedAt: utcPtr(r.DecidedAt),
	}
}

func (r approvalVoteRow) toCore() approval.Vote {
	return approval.Vote{UserID: r.UserID, Decision: approval.Decision(r.Decision), Comment: r.Comment, At: r.At.UTC()}
}

// CreateApproval implements approval.Store.
func (s *Store) CreateApproval(ctx context.Context, a approval.Approval) error {
	if !a.Status.Valid() || a.Required < 1 {
		return fmt.Errorf("store: approval %s: invalid status %q or required %d", a.ID, a.Status, a.Required)
	}
	row := approvalFromCore(a)
	if err := s.conn(ctx).Create(&row).Error; err != nil {
		return fmt.Errorf("create approval %s: %w", a.ID, err)
	}
	return nil
}

// votes reads the votes of approvals ids, by approval, in the order cast.
func (s *Store) votes(ctx context.Context, ids []string) (map[string][]approval.Vote, error) {
	out := map[string][]approval.Vote{}
	for _, part := range chunks(ids, 500) {
		var rows []approvalVoteRow
		if err := s.conn(ctx).Where("approval_id IN ?", part).Order("at").Order("user_id").Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("approval votes: %w", err)
		}
		for _, r := range rows {
			out[r.ApprovalID] = append(out[r.ApprovalID], r.toCore())
		}
	}
	return out, nil
}

// GetApproval implements approval.Store.
func (s *Store) GetApproval(ctx context.Context, id string) (approval.Approval, error) {
	var row approvalRow
	if err := take(s.conn(ctx).Where("id = ?", id), &row, "approval", id); err != nil {
		return approval.Approval{}, err
	}
	a := row.toCore()
	v, err := s.votes(ctx, []string{id})
	if err != nil {
		return approval.Approval{}, err
	}
	a.Votes = v[id]
	return a, nil
}

// RunApprovals implements approval.Store (index approvals_run).
func (s *Store) RunApprovals(ctx context.Context, runID string) ([]approval.Approval, error) {
	var rows []approvalRow
	if err := s.conn(ctx).Where("run_id = ?", runID).Order("created_at").Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("approvals of run %s: %w", runID, err)
	}
	out := make([]approval.Approval, len(rows))
	ids := make([]string, len(rows))
	for i, r := range rows {
		out[i], ids[i] = r.toCore(), r.ID
	}
	if len(ids) == 0 {
		return out, nil
	}
	v, err := s.votes(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Votes = v[out[i].ID]
	}
	return out, nil
}

// ListApprovals implements approval.Store: newest first, by (created_at,
// id) descending; the cursor's key is created_at.
func (s *Store) ListApprovals(ctx context.Context, f approval.Filter, page core.PageArgs) (core.Page[approval.Approval], error) {
	if f.ProjectIDs != nil && len(f.ProjectIDs) == 0 {
		return core.Page[approval.Approval]{Items: []approval.Approval{}, Cursors: []string{}}, nil
	}
	q := s.conn(ctx).Model(&approvalRow{})
	if f.ProjectIDs != nil {
		q = q.Where("project_id IN ?", f.ProjectIDs)
	}
	if len(f.Statuses) > 0 {
		q = q.Where("status IN ?", strs(f.Statuses))
	}
	if f.RunID != "" {
		q = q.Where("run_id = ?", f.RunID)
	}
	if page.After != "" {
		c, _ := core.DecodeCursor(page.After) // validated by PageArgs.Validate
		at, err := time.Parse(time.RFC3339Nano, c.Key)
		if err != nil {
			return core.Page[approval.Approval]{}, core.Invalid("after", "malformed cursor")
		}
		at = at.UTC()
		q = q.Where("created_at < ? OR (created_at = ? AND id < ?)", at, at, c.ID)
	}
	var rows []approvalRow
	if err := q.Order("created_at DESC").Order("id DESC").Limit(page.First + 1).Find(&rows).Error; err != nil {
		return core.Page[approval.Approval]{}, err
	}
	return toPage(rows, page, approvalRow.toCore, func(r approvalRow) (string, string) { return runTimeKey(r.CreatedAt), r.ID }), nil
}

// AddVote implements approval.Store. The conditional UPDATE of the counts
// comes first: it locks the approval's row until the transaction ends, so
// concurrent votes are counted one after the other, and it finds no row
// once the approval is decided.
func (s *Store) AddVote(ctx context.Context, id string, v approval.Vote) (approval.Tally, error) {
	if !v.Decision.Valid() {
		return approval.Tally{}, fmt.Errorf("store: approval %s: invalid decision %q", id, v.Decision)
	}
	var t approval.Tally
	err := s.InTx(ctx, func(ctx context.Context) error {
		col := "approvals"
		if v.Decision == approval.DecisionReject {
			col = "rejections"
		}
		res := s.conn(ctx).Model(&approvalRow{}).Where("id = ? AND status = ?", id, string(approval.StatusPending)).
			Update(col, gorm.Expr(col+" + 1"))
		if res.Error != nil {
			return fmt.Errorf("vote on approval %s: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			a, err := s.GetApproval(ctx, id)
			if err != nil {
				return err
			}
			return core.Conflict("id", "approval %s is already %s", id, a.Status)
		}
		row := approvalVoteRow{ApprovalID: id, UserID: v.UserID, Decision: string(v.Decision), Comment: v.Comment, At: v.At.UTC()}
		if err := s.conn(ctx).Create(&row).Error; err != nil {
			if isDuplicate(err) {
				return core.Conflict("id", "you have already voted on approval %s", id)
			}
			return fmt.Errorf("vote on approval %s: %w", id, err)
		}
		var a approvalRow
		if err := take(s.conn(ctx).Where("id = ?", id), &a, "approval", id); err != nil {
			return err
		}
		t = approval.Tally{Approvals: a.Approvals, Rejections: a.Rejections}
		return nil
	})
	return t, err
}

// TransitionApproval implements approval.Store.
func (s *Store) TransitionApproval(ctx context.Context, id string, from []approval.Status, to approval.Status, at time.Time) (bool, error) {
	if err := approval.CheckTransition(from, to); err != nil {
		return false, err
	}
	at = at.UTC()
	ok, _, err := s.transition(ctx, &approvalRow{}, "approval", id, strs(from), string(to), map[string]any{"decided_at": at})
	return ok, err
}
