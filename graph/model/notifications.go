package model

import "time"

// NotificationChannel is the API view of a notification channel, without
// its secrets.
type NotificationChannel struct {
	ID        string
	Name      string
	Kind      NotificationChannelKind
	Events    []NotificationEvent
	Enabled   bool
	Webhook   *WebhookSettings
	Slack     *SlackSettings
	Email     *EmailSettings
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
	ProjectID string `json:"-"`
}

func (NotificationChannel) IsNode()                {}
func (c NotificationChannel) GetID() string        { return c.ID }
func (c NotificationChannel) ProjectScope() string { return c.ProjectID }
