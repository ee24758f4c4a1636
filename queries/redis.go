package queries

// Redis is the body of a redis query: a command and how its reply becomes rows.
type Redis struct {
	Command []string `yaml:"command"`
}

func (r *Redis) validate() []string {
	if len(r.Command) == 0 {
		return []string{"redis needs a command"}
	}
	return nil
}
