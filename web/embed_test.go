package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

func TestIndexSaysHowToBuildAMissingConsole(t *testing.T) {
	rec := httptest.NewRecorder()
	serveIndex(rec, httptest.NewRequest(http.MethodGet, "/p/prj_1/hosts", nil), fstest.MapFS{".gitkeep": {}})
	require.Equal(t, http.StatusNotFound, rec.Code)
	require.Contains(t, rec.Body.String(), "make web")
	require.Equal(t, "no-cache", rec.Header().Get("Cache-Control"))
}

func TestIndexServesTheBuiltConsole(t *testing.T) {
	rec := httptest.NewRecorder()
	root := fstest.MapFS{"index.html": {Data: []byte(`<div id="root"></div>`)}}
	serveIndex(rec, httptest.NewRequest(http.MethodGet, "/", nil), root)
	require.Equal(t, http.StatusOK, rec.Code)
	require.True(t, strings.Contains(rec.Body.String(), `id="root"`), rec.Body.String())
}
