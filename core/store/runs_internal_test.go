package store

import (
	"reflect"
	"testing"
)

func TestTaskColumnsCountsTaskRow(t *testing.T) {
	t.Parallel()
	if n := reflect.TypeFor[taskRow]().NumField(); n != taskColumns {
		t.Fatalf("taskRow has %d columns, taskColumns says %d", n, taskColumns)
	}
}
