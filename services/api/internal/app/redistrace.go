package app

import (
	"context"
	"errors"
	"net"
	"strconv"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// redisTracing is a go-redis hook that records a client span per command
// (named by the command: "get", "evalsha") and per pipeline, only inside a
// span that is recorded: a request or job the sampler kept. Everywhere
// else (an unsampled request, the heartbeat, pub/sub, the pool's health
// checks) it does nothing at all, so a service that traces a share of its
// requests pays for that share only. No command arguments are recorded:
// keys name sessions and values hold them.
type redisTracing struct {
	tracer trace.Tracer
	opts   []trace.SpanStartOption // the same for every span, built once
}

func newRedisTracing(tracer trace.Tracer, addr string) redisTracing {
	attrs := []attribute.KeyValue{semconv.DBSystemNameRedis}
	if host, port, err := net.SplitHostPort(addr); err == nil {
		attrs = append(attrs, semconv.ServerAddress(host))
		if p, err := strconv.Atoi(port); err == nil {
			attrs = append(attrs, semconv.ServerPort(p))
		}
	}
	return redisTracing{tracer: tracer, opts: []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...),
	}}
}

func (h redisTracing) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h redisTracing) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !trace.SpanFromContext(ctx).IsRecording() {
			return next(ctx, cmd)
		}
		ctx, span := h.tracer.Start(ctx, cmd.Name(), h.opts...)
		defer span.End()
		err := next(ctx, cmd)
		failed(span, err)
		return err
	}
}

func (h redisTracing) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !trace.SpanFromContext(ctx).IsRecording() {
			return next(ctx, cmds)
		}
		ctx, span := h.tracer.Start(ctx, "pipeline", h.opts...)
		defer span.End()
		span.SetAttributes(semconv.DBOperationBatchSize(len(cmds)))
		err := next(ctx, cmds)
		failed(span, err)
		return err
	}
}

// failed marks span as failed by err; a miss (redis.Nil) is an answer.
func failed(span trace.Span, err error) {
	if err != nil && !errors.Is(err, redis.Nil) {
		span.SetStatus(codes.Error, err.Error())
	}
}
