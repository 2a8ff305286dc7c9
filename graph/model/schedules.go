package model

import (
	"time"

	"github.com/jobgraph/jobgraph/core/scheduler"
)

// Schedule is a cron schedule. Project, job, lastRun, nextFireTimes and
// fires are resolved from the fields tagged json:"-".
type Schedule struct {
	ID            string
	JobID         string
	Name          string
	Expression    string
	TimeZone      string
	Params        map[string]any
	Priority      int
	JitterSeconds int
	Overlap       ScheduleOverlap
	Missed        ScheduleMissed
	Enabled       bool
	NextFireAt    *time.Time
	DueAt         *time.Time
	LastFireAt    *time.Time
	LastError     string
	CreatedBy     string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	ProjectID     string             `json:"-"`
	LastRunID     string             `json:"-"`
	Core          scheduler.Schedule `json:"-"`
}

func (Schedule) IsNode()                {}
func (s Schedule) GetID() string        { return s.ID }
func (s Schedule) ProjectScope() string { return s.ProjectID }
