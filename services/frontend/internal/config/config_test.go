package config

import (
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantAPI string
		wantErr string // a variable name the error must mention
	}{
		{name: "defaults", env: nil, wantAPI: "http://api:8000"},
		{name: "api url", env: map[string]string{"API_URL": "http://127.0.0.1:8000/"}, wantAPI: "http://127.0.0.1:8000"},
		{name: "https api", env: map[string]string{"API_URL": "https://api.internal"}, wantAPI: "https://api.internal"},
		{name: "api url with path", env: map[string]string{"API_URL": "http://api:8000/v1"}, wantErr: "API_URL"},
		{name: "api url not a url", env: map[string]string{"API_URL": "api:8000"}, wantErr: "API_URL"},
		{name: "api url with credentials", env: map[string]string{"API_URL": "http://u:p@api:8000"}, wantErr: "API_URL"},
		{name: "bad port", env: map[string]string{"PORT": "eighty"}, wantErr: "PORT"},
		{name: "bad level", env: map[string]string{"LOG_LEVEL": "loud"}, wantErr: "LOG_LEVEL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load = %v, want an error naming %s", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "u:p") {
					t.Fatalf("error %q repeats credentials", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.APIURL.String(); got != tt.wantAPI {
				t.Errorf("APIURL = %q, want %q", got, tt.wantAPI)
			}
		})
	}
}

// One start-up names every bad variable (it stopped at the first before
// the stack's one loader).
func TestEveryBadVariableAtOnce(t *testing.T) {
	_, err := Load(func(k string) string {
		return map[string]string{"PORT": "eighty", "LOG_LEVEL": "loud", "API_URL": "api:8000"}[k]
	})
	for _, name := range []string{"PORT", "LOG_LEVEL", "API_URL"} {
		if err == nil || !strings.Contains(err.Error(), name+":") {
			t.Errorf("Load = %v, want an error naming %s", err, name)
		}
	}
}
