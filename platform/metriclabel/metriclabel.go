// Package metriclabel bounds the values of the label the services' request
// metrics take from a client: the method. A label value is a time series
// in every scrape from then on, so a client that sends a thousand made-up
// methods must not make a thousand series.
package metriclabel

import "net/http"

// Method is m when it is one of the methods the services serve, else
// "other".
func Method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}
