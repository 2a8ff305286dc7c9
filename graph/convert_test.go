package graph

import (
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/inventory"
	"github.com/jobgraph/jobgraph/graph/model"
)

// checkEnumMap asserts that toModel maps every core value to a distinct,
// valid API value, that every API value is reached, and that the reverse
// table undoes it: the core's list and the schema's list match both ways.
func checkEnumMap[C, M comparable](t *testing.T, core []C, api []M, toModel map[C]M, fromModel map[M]C, valid func(M) bool) {
	t.Helper()
	for _, c := range core {
		m, ok := toModel[c]
		require.True(t, ok, "core value %v has no API value", c)
		require.True(t, valid(m), "core value %v maps to %v, which the schema does not declare", c, m)
		back, ok := fromModel[m]
		require.True(t, ok, "API value %v has no core value", m)
		require.Equal(t, c, back, "API value %v maps back to another core value", m)
	}
	require.Len(t, toModel, len(core), "the table maps values that are not in the core's list")
	require.ElementsMatch(t, api, slices.Collect(maps.Values(toModel)), "the schema's values and the table's differ")
	for _, m := range api {
		c, ok := fromModel[m]
		require.True(t, ok, "API value %v has no core value", m)
		require.Contains(t, core, c)
	}
	require.Len(t, fromModel, len(api), "two core values map to the same API value")
}

func TestOSMapCoversBothLists(t *testing.T) {
	t.Parallel()
	checkEnumMap(t, inventory.OSes(), model.AllOs, osToModel, osFromModel, model.Os.IsValid)
	require.Equal(t, inventory.OS(""), osFromModelPtr(nil), "an absent OS stays absent")
}

func TestCredentialKindMapCoversBothLists(t *testing.T) {
	t.Parallel()
	checkEnumMap(t, inventory.CredentialKinds(), model.AllCredentialKind,
		credentialKindToModel, credentialKindFromModel, model.CredentialKind.IsValid)
}
