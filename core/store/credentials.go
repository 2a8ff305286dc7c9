package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/inventory"
)

// credentialRow holds the sealed secret next to the description; only
// SealedSecret reads that column.
type credentialRow struct {
	ID              string `gorm:"primaryKey"`
	ProjectID       string
	Name            string
	Kind            string
	Username        string
	Description     string
	Fingerprint     string
	Sealed          []byte
	SecretUpdatedAt time.Time
	CreatedAt       time.Time `gorm:"autoCreateTime:false"`
	UpdatedAt       time.Time `gorm:"autoUpdateTime:false"`
}

func (credentialRow) TableName() string { return "credentials" }

// credentialColumns are the columns that describe a credential, without the
// sealed secret, so that listing never loads ciphertext it does not need.
var credentialColumns = []string{"id", "project_id", "name", "kind", "username", "description", "fingerprint", "secret_updated_at", "created_at", "updated_at"}

func credentialFromCore(c inventory.Credential, sealed []byte) credentialRow {
	return credentialRow{
		ID: c.ID, ProjectID: c.ProjectID, Name: c.Name, Kind: string(c.Kind), Username: c.Username,
		Description: c.Description, Fingerprint: c.Fingerprint, Sealed: sealed,
		SecretUpdatedAt: c.SecretUpdatedAt, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
}

func (r credentialRow) toCore() inventory.Credential {
	return inventory.Credential{
		ID: r.ID, ProjectID: r.ProjectID, Name: r.Name, Kind: inventory.CredentialKind(r.Kind), Username: r.Username,
		Description: r.Description, Fingerprint: r.Fingerprint,
		SecretUpdatedAt: r.SecretUpdatedAt.UTC(), CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

func credentialConflict(err error, name string) error {
	if isDuplicate(err) {
		return core.Conflict("name", "a credential named %q already exists in this project", name)
	}
	return err
}

// CreateCredential implements inventory.CredentialStore.
func (s *Store) CreateCredential(ctx context.Context, c inventory.Credential, sealed []byte) error {
	row := credentialFromCore(c, sealed)
	return credentialConflict(s.conn(ctx).Create(&row).Error, c.Name)
}

// UpdateCredential implements inventory.CredentialStore.
func (s *Store) UpdateCredential(ctx context.Context, c inventory.Credential, sealed []byte) error {
	cols := []string{"name", "username", "description", "updated_at"}
	if sealed != nil {
		cols = append(cols, "fingerprint", "sealed", "secret_updated_at")
	}
	res := s.conn(ctx).Model(&credentialRow{ID: c.ID}).Select(cols).Updates(credentialFromCore(c, sealed))
	if res.Error != nil {
		return credentialConflict(res.Error, c.Name)
	}
	if res.RowsAffected == 0 {
		return core.NotFound("credential", c.ID)
	}
	return nil
}

// DeleteCredential implements inventory.CredentialStore.
func (s *Store) DeleteCredential(ctx context.Context, id string) error {
	res := s.conn(ctx).Delete(&credentialRow{ID: id})
	if res.Error != nil {
		if errors.Is(res.Error, gorm.ErrForeignKeyViolated) {
			return core.Conflict("id", "credential is still in use")
		}
		return res.Error
	}
	if res.RowsAffected == 0 {
		return core.NotFound("credential", id)
	}
	return nil
}

// GetCredential implements inventory.CredentialStore.
func (s *Store) GetCredential(ctx context.Context, id string) (inventory.Credential, error) {
	var row credentialRow
	err := take(s.conn(ctx).Select(credentialColumns).Where("id = ?", id), &row, "credential", id)
	return row.toCore(), err
}

// CredentialsByID implements inventory.CredentialStore.
func (s *Store) CredentialsByID(ctx context.Context, ids []string) (map[string]inventory.Credential, error) {
	out := make(map[string]inventory.Credential, len(ids))
	for _, chunk := range chunks(ids, 1000) {
		var rows []credentialRow
		if err := s.conn(ctx).Select(credentialColumns).Where("id IN ?", chunk).Find(&rows).Error; err != nil {
			return nil, err
		}
		for _, r := range rows {
			out[r.ID] = r.toCore()
		}
	}
	return out, nil
}

// SealedSecret implements inventory.CredentialStore.
func (s *Store) SealedSecret(ctx context.Context, id string) ([]byte, error) {
	var row credentialRow
	err := take(s.conn(ctx).Select("sealed").Where("id = ?", id), &row, "credential", id)
	return row.Sealed, err
}

func (s *Store) credentialQuery(ctx context.Context, f inventory.CredentialFilter) *gorm.DB {
	q := s.conn(ctx).Model(&credentialRow{}).Where("credentials.project_id = ?", f.ProjectID)
	if f.Search != "" {
		q = q.Where("LOWER(credentials.name) LIKE ? ESCAPE '!'", likeSubstring(f.Search))
	}
	if f.Kind != "" {
		q = q.Where("credentials.kind = ?", string(f.Kind))
	}
	return q
}

// ListCredentials implements inventory.CredentialStore.
func (s *Store) ListCredentials(ctx context.Context, f inventory.CredentialFilter, page core.PageArgs) (core.Page[inventory.Credential], error) {
	var rows []credentialRow
	q := s.credentialQuery(ctx, f).Select(credentialColumns)
	if err := keyset(q, "credentials", "name", page).Find(&rows).Error; err != nil {
		return core.Page[inventory.Credential]{}, err
	}
	return toPage(rows, page, credentialRow.toCore, func(r credentialRow) (string, string) { return r.Name, r.ID }), nil
}

// CountCredentials implements inventory.CredentialStore.
func (s *Store) CountCredentials(ctx context.Context, f inventory.CredentialFilter) (int, error) {
	var n int64
	err := s.credentialQuery(ctx, f).Count(&n).Error
	return int(n), err
}

// CredentialUsers implements inventory.CredentialStore.
func (s *Store) CredentialUsers(ctx context.Context, id string) (int, error) {
	var n int64
	err := s.conn(ctx).Model(&hostRow{}).Where("default_credential_id = ?", id).Count(&n).Error
	return int(n), err
}

// Compile-time checks that Store implements the domain ports.
var (
	_ inventory.Store = (*Store)(nil)
)

type sealCheckRow struct {
	ID     int `gorm:"primaryKey"`
	Sealed []byte
}

func (sealCheckRow) TableName() string { return "seal_check" }

// SealCheck implements inventory.CredentialStore: the stored check value,
// nil if there is none yet.
func (s *Store) SealCheck(ctx context.Context) ([]byte, error) {
	var rows []sealCheckRow
	if err := s.conn(ctx).Where("id = 1").Limit(1).Find(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return rows[0].Sealed, nil
}

// InitSealCheck implements inventory.CredentialStore: it stores the check
// value unless one exists (a replica that got there first wins).
func (s *Store) InitSealCheck(ctx context.Context, sealed []byte) error {
	err := s.conn(ctx).Create(&sealCheckRow{ID: 1, Sealed: sealed}).Error
	if isDuplicate(err) {
		return nil
	}
	return err
}
