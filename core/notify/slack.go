package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
)

// Slack posts to a Slack incoming webhook: a text (shown in notifications)
// and blocks (shown in the channel). The incoming-webhook URL is itself the
// credential, so it is sealed; only its host is shown.
type Slack struct {
	SlackSettings
	SlackSecrets
}

// SlackSettings are a Slack channel's clear settings.
type SlackSettings struct {
	// Host is the webhook URL's host (hooks.slack.com), derived.
	Host string `json:"host"`
}

// SlackSecrets are a Slack channel's sealed settings.
type SlackSecrets struct {
	URL string `json:"url,omitempty"`
}

// Kind implements Config.
func (*Slack) Kind() string { return KindSlack }

// Parts implements Config.
func (s *Slack) Parts() (any, any) { return &s.SlackSettings, &s.SlackSecrets }

// KeepSecrets implements Config.
func (s *Slack) KeepSecrets(old Config) {
	if o, ok := old.(*Slack); ok && s.URL == "" {
		s.URL = o.URL
	}
}

// Validate implements Sender; it also derives Host.
func (s *Slack) Validate() error {
	if err := checkURL("slack.url", s.URL); err != nil {
		return err
	}
	u, _ := url.Parse(s.URL)
	s.Host = u.Host
	return nil
}

// Send implements Sender.
func (s *Slack) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(SlackPayload(m))
	if err != nil {
		return Permanent(err)
	}
	return postJSON(ctx, s.URL, http.Header{}, body)
}

// SlackPayload is the incoming-webhook payload for m.
func SlackPayload(m Message) map[string]any {
	title := m.Title()
	blocks := []any{
		map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": truncate(title, 150)}},
		map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": truncate("```"+m.Body()+"```", 3000)}},
	}
	if m.Run.URL != "" {
		blocks = append(blocks, map[string]any{"type": "context", "elements": []any{
			map[string]any{"type": "mrkdwn", "text": "<" + m.Run.URL + "|Open the run>"},
		}})
	}
	return map[string]any{"text": title, "blocks": blocks}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	for len(string(r)) > n-1 {
		r = r[:len(r)-1]
	}
	return string(r) + "…"
}
