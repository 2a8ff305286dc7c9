package builtin

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExecutorsAreNamedAsTheyDescribeThemselves(t *testing.T) {
	t.Parallel()
	for name, factory := range Executors() {
		info, err := factory().Describe(t.Context())
		require.NoError(t, err)
		require.Equal(t, name, info.Name)
	}
}
