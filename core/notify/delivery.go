package notify

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"time"
)

// DeliveryStatus is the lifecycle state of a delivery. Allowed moves are in
// deliveryTransitions.
type DeliveryStatus string

// The delivery statuses.
const (
	// DeliveryPending: waiting for its next attempt, at NextAttemptAt.
	DeliveryPending DeliveryStatus = "pending"
	// DeliverySending: claimed by a dispatcher, whose lease ends at
	// NextAttemptAt; past it, another dispatcher takes it back.
	DeliverySending DeliveryStatus = "sending"
	// DeliverySent: the receiver accepted it. Final.
	DeliverySent DeliveryStatus = "sent"
	// DeliveryFailed: a permanent error, or MaxAttempts spent. Final.
	DeliveryFailed DeliveryStatus = "failed"
)

var deliveryTransitions = map[DeliveryStatus][]DeliveryStatus{
	DeliveryPending: {DeliverySending},
	// sending → sending: a lease that ran out is taken back.
	DeliverySending: {DeliverySent, DeliveryPending, DeliveryFailed, DeliverySending},
	DeliverySent:    nil,
	DeliveryFailed:  nil,
}

// DeliveryStatuses returns every status.
func DeliveryStatuses() []DeliveryStatus {
	return []DeliveryStatus{DeliveryPending, DeliverySending, DeliverySent, DeliveryFailed}
}

// Valid reports whether s is one of DeliveryStatuses.
func (s DeliveryStatus) Valid() bool { return slices.Contains(DeliveryStatuses(), s) }

// Final reports whether s is sent or failed.
func (s DeliveryStatus) Final() bool { return s.Valid() && len(deliveryTransitions[s]) == 0 }

// CanTransitionTo reports whether a delivery may move from s to next.
func (s DeliveryStatus) CanTransitionTo(next DeliveryStatus) bool {
	return slices.Contains(deliveryTransitions[s], next)
}

// Delivery is one message to send through one channel: a row of the
// outbox. Notify writes it, a Dispatcher sends it.
type Delivery struct {
	ID        string
	ChannelID string
	ProjectID string
	RunID     string
	Event     Event
	// Payload is the Message, as JSON.
	Payload json.RawMessage
	Status  DeliveryStatus
	// Attempts counts the attempts started, the one in progress included.
	Attempts int
	// NextAttemptAt is when a pending delivery is due, or when a sending
	// delivery's lease ends.
	NextAttemptAt time.Time
	LastError     string
	CreatedAt     time.Time
	SentAt        *time.Time
}

// DeliveryFilter narrows a delivery list.
type DeliveryFilter struct {
	ProjectID string
	ChannelID string
	Status    DeliveryStatus
}

// ClaimRequest asks the store for due deliveries.
type ClaimRequest struct {
	// Now is the time: pending deliveries due by then, and sending ones
	// whose lease ended by then, are claimed.
	Now time.Time
	// LeaseUntil is the end of the new lease.
	LeaseUntil time.Time
	Limit      int
}

// Outcome is how an attempt ended, to store with FinishDelivery.
type Outcome struct {
	ID string
	// Attempts is the delivery's Attempts as claimed: the store applies
	// the outcome only if the delivery is still sending with that count,
	// so an attempt whose lease was taken back changes nothing.
	Attempts      int
	Status        DeliveryStatus // sent, pending or failed
	NextAttemptAt time.Time      // pending
	LastError     string
	SentAt        *time.Time // sent
}

// Backoff is the default wait before the next attempt after attempt
// (1-based) failed: 2s × 2^(attempt-1), capped at 10 minutes, ±20% jitter so
// that deliveries that failed together do not retry together.
func Backoff(attempt int) time.Duration {
	d := 2 * time.Second
	for i := 1; i < attempt && d < 10*time.Minute; i++ {
		d *= 2
	}
	d = min(d, 10*time.Minute)
	jitter := time.Duration((rand.Float64()*0.4 - 0.2) * float64(d))
	return d + jitter
}
