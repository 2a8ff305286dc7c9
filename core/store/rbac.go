package store

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/rbac"
)

// casbinRuleRow has the shape of casbin's gorm adapter, so that casbin tools
// can read the table.
type casbinRuleRow struct {
	ID    uint64 `gorm:"primaryKey;autoIncrement"`
	PType string `gorm:"column:ptype"`
	V0    string
	V1    string
	V2    string
	V3    string
	V4    string
	V5    string
}

func (casbinRuleRow) TableName() string { return "casbin_rule" }

type policyVersionRow struct {
	ID      int `gorm:"primaryKey"`
	Version int64
}

func (policyVersionRow) TableName() string { return "rbac_policy_version" }

// LoadRules implements rbac.Store.
func (s *Store) LoadRules(ctx context.Context) ([]rbac.Rule, error) {
	var rows []casbinRuleRow
	if err := s.conn(ctx).Order("id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]rbac.Rule, len(rows))
	for i, r := range rows {
		out[i] = rbac.Rule{PType: r.PType, V0: r.V0, V1: r.V1, V2: r.V2}
	}
	return out, nil
}

// AddRule implements rbac.Store. Adding a rule that exists is not an error.
func (s *Store) AddRule(ctx context.Context, r rbac.Rule) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		var n int64
		q := s.conn(ctx).Model(&casbinRuleRow{}).Where("ptype = ? AND v0 = ? AND v1 = ? AND v2 = ?", r.PType, r.V0, r.V1, r.V2)
		if err := q.Count(&n).Error; err != nil || n > 0 {
			return err
		}
		return s.conn(ctx).Create(&casbinRuleRow{PType: r.PType, V0: r.V0, V1: r.V1, V2: r.V2}).Error
	})
}

// RemoveRules implements rbac.Store: it deletes the rules whose fields equal
// every non-empty field of match (PType is required).
func (s *Store) RemoveRules(ctx context.Context, match rbac.Rule) (int, error) {
	if match.PType == "" {
		return 0, fmt.Errorf("store: RemoveRules needs a ptype")
	}
	q := s.conn(ctx).Where("ptype = ?", match.PType)
	for col, v := range map[string]string{"v0": match.V0, "v1": match.V1, "v2": match.V2} {
		if v != "" {
			q = q.Where(col+" = ?", v)
		}
	}
	res := q.Delete(&casbinRuleRow{})
	return int(res.RowsAffected), res.Error
}

// PolicyVersion implements rbac.Store.
func (s *Store) PolicyVersion(ctx context.Context) (int64, error) {
	var row policyVersionRow
	err := s.conn(ctx).Where("id = 1").Take(&row).Error
	return row.Version, err
}

// BumpPolicyVersion implements rbac.Store.
func (s *Store) BumpPolicyVersion(ctx context.Context) error {
	return s.conn(ctx).Model(&policyVersionRow{}).Where("id = 1").
		UpdateColumn("version", gorm.Expr("version + 1")).Error
}

// ProjectOf implements rbac.Store: the project an object belongs to, found
// from the kind its ID carries.
func (s *Store) ProjectOf(ctx context.Context, id string) (string, error) {
	kind := core.KindOf(id)
	if kind == core.KindProject {
		return id, s.ProjectExists(ctx, id)
	}
	var model any
	switch kind {
	case core.KindHost:
		model = &hostRow{}
	case core.KindHostGroup:
		model = &groupRow{}
	case core.KindCredential:
		model = &credentialRow{}
	case core.KindJob:
		model = &jobRow{}
	case core.KindRun:
		model = &runRow{}
	case core.KindApproval:
		model = &approvalRow{}
	case core.KindGuardRule:
		model = &guardRuleRow{}
	case core.KindTrigger:
		model = &triggerRow{}
	case core.KindSchedule:
		model = &scheduleRow{}
	case core.KindChannel:
		model = &channelRow{}
	case core.KindStepRun, core.KindTask:
		// Step runs and tasks belong to a run, which has the project.
		var row any = &stepRunRow{}
		if kind == core.KindTask {
			row = &taskRow{}
		}
		var runIDs []string
		if err := s.conn(ctx).Model(row).Where("id = ?", id).Limit(1).Pluck("run_id", &runIDs).Error; err != nil {
			return "", err
		}
		if len(runIDs) == 0 {
			return "", core.NotFound(kind.Noun(), id)
		}
		id, model = runIDs[0], &runRow{}
	default:
		return "", core.NotFound("object", id)
	}
	var ids []string
	if err := s.conn(ctx).Model(model).Where("id = ?", id).Limit(1).Pluck("project_id", &ids).Error; err != nil {
		return "", err
	}
	if len(ids) == 0 {
		return "", core.NotFound(kind.Noun(), id)
	}
	return ids[0], nil
}

var _ rbac.Store = (*Store)(nil)
