package redis

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// SetLogger sends go-redis' own messages (sentinel discovery, a switch of master) to logger at
// debug level instead of the standard logger. go-redis keeps one logger per process, so this
// is process-wide: the last call wins.
func SetLogger(logger *slog.Logger) {
	redis.SetLogger(goRedisLogger{logger})
}

type goRedisLogger struct{ l *slog.Logger }

func (g goRedisLogger) Printf(ctx context.Context, format string, v ...any) {
	g.l.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...), "source", "redis")
}
