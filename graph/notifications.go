package graph

import (
	"errors"
	"strings"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/notify"
	"github.com/jobgraph/jobgraph/graph/model"
)

// Converters of notification channels and deliveries. The GraphQL enums
// are the core values in upper case (NotificationEventsMatch in the tests
// holds the two lists together).

var errNoNotifications = errors.New("notifications are not configured on this server")

func eventsFromModel(es []model.NotificationEvent) []notify.Event {
	if es == nil {
		return nil
	}
	out := make([]notify.Event, len(es))
	for i, e := range es {
		out[i] = notify.Event(strings.ToLower(string(e)))
	}
	return out
}

func toModelChannel(c notify.Channel) (*model.NotificationChannel, error) {
	m := &model.NotificationChannel{
		ID: c.ID, ProjectID: c.ProjectID, Name: c.Name, Kind: model.NotificationChannelKind(strings.ToUpper(c.Kind)),
		Enabled: c.Enabled, CreatedBy: c.CreatedBy, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		Events: make([]model.NotificationEvent, len(c.Events)),
	}
	for i, e := range c.Events {
		m.Events[i] = model.NotificationEvent(strings.ToUpper(string(e)))
	}
	cfg, err := c.Decode()
	if err != nil {
		return nil, err
	}
	switch cfg := cfg.(type) {
	case *notify.Webhook:
		m.Webhook = &model.WebhookSettings{URL: cfg.URL, HeaderNames: append([]string{}, cfg.HeaderNames...), HasSecret: cfg.HasSecret}
	case *notify.Slack:
		m.Slack = &model.SlackSettings{Host: cfg.Host}
	case *notify.Email:
		m.Email = &model.EmailSettings{Host: cfg.Host, Port: cfg.Port, From: cfg.From, To: cfg.To, Username: optional(cfg.Username),
			TLS: model.SMTPTLS(strings.ToUpper(string(cfg.TLS))), HasPassword: cfg.HasPassword}
	}
	return m, nil
}

// channelConfigFromModel returns the one config the input gives, nil if it
// gives none.
func channelConfigFromModel(w *model.WebhookInput, s *model.SlackInput, e *model.EmailInput) (notify.Config, error) {
	n := 0
	for _, set := range []bool{w != nil, s != nil, e != nil} {
		if set {
			n++
		}
	}
	if n > 1 {
		return nil, core.Invalid("webhook", "give only one of webhook, slack and email")
	}
	switch {
	case w != nil:
		c := &notify.Webhook{WebhookSettings: notify.WebhookSettings{URL: w.URL}, WebhookSecrets: notify.WebhookSecrets{Secret: deref(w.Secret)}}
		if w.Headers != nil {
			c.Headers = make(map[string]string, len(w.Headers))
			for _, h := range w.Headers {
				c.Headers[h.Name] = h.Value
			}
		}
		return c, nil
	case s != nil:
		return &notify.Slack{SlackSecrets: notify.SlackSecrets{URL: deref(s.URL)}}, nil
	case e != nil:
		c := &notify.Email{
			EmailSettings: notify.EmailSettings{Host: e.Host, Port: e.Port, From: e.From, To: e.To, Username: deref(e.Username)},
			EmailSecrets:  notify.EmailSecrets{Password: deref(e.Password)},
		}
		if e.TLS != nil {
			c.TLS = notify.TLSMode(strings.ToLower(string(*e.TLS)))
		}
		return c, nil
	}
	return nil, nil
}

func toChannelConnection(p core.Page[notify.Channel], total int) (*model.NotificationChannelConnection, error) {
	c := &model.NotificationChannelConnection{PageInfo: pageInfo(p), TotalCount: total, Edges: make([]*model.NotificationChannelEdge, len(p.Items))}
	for i, ch := range p.Items {
		m, err := toModelChannel(ch)
		if err != nil {
			return nil, err
		}
		c.Edges[i] = &model.NotificationChannelEdge{Cursor: p.Cursors[i], Node: m}
	}
	return c, nil
}

func toModelDelivery(d notify.Delivery) *model.NotificationDelivery {
	m := &model.NotificationDelivery{
		ID: d.ID, ChannelID: d.ChannelID, RunID: optional(d.RunID), Event: model.NotificationEvent(strings.ToUpper(string(d.Event))),
		Status: model.NotificationDeliveryStatus(strings.ToUpper(string(d.Status))), Attempts: d.Attempts,
		LastError: optional(d.LastError), CreatedAt: d.CreatedAt, SentAt: d.SentAt,
	}
	if d.Status == notify.DeliveryPending {
		at := d.NextAttemptAt
		m.NextAttemptAt = &at
	}
	return m
}

func toDeliveryConnection(p core.Page[notify.Delivery], total int) *model.NotificationDeliveryConnection {
	c := &model.NotificationDeliveryConnection{PageInfo: pageInfo(p), TotalCount: total, Edges: make([]*model.NotificationDeliveryEdge, len(p.Items))}
	for i, d := range p.Items {
		c.Edges[i] = &model.NotificationDeliveryEdge{Cursor: p.Cursors[i], Node: toModelDelivery(d)}
	}
	return c
}
