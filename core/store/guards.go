package store

import (
	"context"
	"time"

	"gorm.io/gorm/clause"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/guard"
)

type guardRuleRow struct {
	ID           string `gorm:"primaryKey"`
	ProjectID    string
	Name         string
	Pattern      string
	Severity     string
	ApproverRole string
	Description  string
	Enabled      bool
	CreatedAt    time.Time `gorm:"autoCreateTime:false"`
	UpdatedAt    time.Time `gorm:"autoUpdateTime:false"`
	CreatedBy    string
}

func (guardRuleRow) TableName() string { return "guard_rules" }

type guardBuiltinDisabledRow struct {
	ProjectID  string `gorm:"primaryKey"`
	RuleID     string `gorm:"primaryKey"`
	DisabledAt time.Time
	DisabledBy string
}

func (guardBuiltinDisabledRow) TableName() string { return "guard_builtins_disabled" }

func guardRuleFromCore(r guard.Rule) guardRuleRow {
	return guardRuleRow{
		ID: r.ID, ProjectID: r.ProjectID, Name: r.Name, Pattern: r.Pattern, Severity: string(r.Severity),
		ApproverRole: r.ApproverRole, Description: r.Description, Enabled: r.Enabled,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, CreatedBy: r.CreatedBy,
	}
}

func (r guardRuleRow) toCore() guard.Rule {
	return guard.Rule{
		ID: r.ID, ProjectID: r.ProjectID, Name: r.Name, Pattern: r.Pattern, Severity: guard.Severity(r.Severity),
		ApproverRole: r.ApproverRole, Description: r.Description, Enabled: r.Enabled,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), CreatedBy: r.CreatedBy,
	}
}

func guardRuleConflict(err error, name string) error {
	if isDuplicate(err) {
		return core.Conflict("name", "a guard rule named %q already exists in this project", name)
	}
	return err
}

// CreateGuardRule implements guard.Store.
func (s *Store) CreateGuardRule(ctx context.Context, r guard.Rule) error {
	row := guardRuleFromCore(r)
	return guardRuleConflict(s.conn(ctx).Create(&row).Error, r.Name)
}

// UpdateGuardRule implements guard.Store.
func (s *Store) UpdateGuardRule(ctx context.Context, r guard.Rule) error {
	res := s.conn(ctx).Model(&guardRuleRow{}).Where("id = ?", r.ID).
		Select("name", "pattern", "severity", "approver_role", "description", "enabled", "updated_at").
		Updates(guardRuleFromCore(r))
	if res.Error != nil {
		return guardRuleConflict(res.Error, r.Name)
	}
	if res.RowsAffected == 0 {
		return core.NotFound(core.KindGuardRule.Noun(), r.ID)
	}
	return nil
}

// DeleteGuardRule implements guard.Store.
func (s *Store) DeleteGuardRule(ctx context.Context, id string) error {
	res := s.conn(ctx).Delete(&guardRuleRow{ID: id})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return core.NotFound(core.KindGuardRule.Noun(), id)
	}
	return nil
}

// GetGuardRule implements guard.Store.
func (s *Store) GetGuardRule(ctx context.Context, id string) (guard.Rule, error) {
	var row guardRuleRow
	if err := take(s.conn(ctx).Where("id = ?", id), &row, core.KindGuardRule.Noun(), id); err != nil {
		return guard.Rule{}, err
	}
	return row.toCore(), nil
}

// ListGuardRules implements guard.Store.
func (s *Store) ListGuardRules(ctx context.Context, projectID string) ([]guard.Rule, error) {
	var rows []guardRuleRow
	if err := s.conn(ctx).Where("project_id = ?", projectID).Order("name, id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]guard.Rule, len(rows))
	for i, r := range rows {
		out[i] = r.toCore()
	}
	return out, nil
}

// SetGuardBuiltinDisabled implements guard.Store.
func (s *Store) SetGuardBuiltinDisabled(ctx context.Context, projectID, ruleID string, disabled bool, at time.Time, by string) error {
	if !disabled {
		return s.conn(ctx).Where("project_id = ? AND rule_id = ?", projectID, ruleID).Delete(&guardBuiltinDisabledRow{}).Error
	}
	row := guardBuiltinDisabledRow{ProjectID: projectID, RuleID: ruleID, DisabledAt: at, DisabledBy: by}
	return s.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error
}

// GuardBuiltinsDisabled implements guard.Store.
func (s *Store) GuardBuiltinsDisabled(ctx context.Context, projectID string) (map[string]bool, error) {
	var ids []string
	if err := s.conn(ctx).Model(&guardBuiltinDisabledRow{}).Where("project_id = ?", projectID).Pluck("rule_id", &ids).Error; err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

var _ guard.Store = (*Store)(nil)
