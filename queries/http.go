package queries

// HTTP is the body of an elasticsearch query: a GET and how its JSON becomes rows.
type HTTP struct {
	Path string `yaml:"path"`
}

func (h *HTTP) validate() []string {
	if h.Path == "" {
		return []string{"http needs a path"}
	}
	return nil
}
