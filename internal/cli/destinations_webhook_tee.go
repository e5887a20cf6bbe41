package cli

import (
	"github.com/statsig-bridge/statsig-bridge/internal/config"
	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/destination/statsigtee"
	"github.com/statsig-bridge/statsig-bridge/internal/destination/webhook"
	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
)

// webhookEncoder maps events to Segment Track messages through the
// destination's own filter and mapping, sized to fit a webhook request.
func webhookEncoder(env buildEnv, d config.Destination) (destination.Encoder, error) {
	return destination.TrackEncoder{Mapper: mapping.New(d.Mapping, env.Specs, library()), MaxItemBytes: webhook.MaxMessageBytes}, nil
}

func webhookWriter(_ buildEnv, d config.Destination) (destination.Writer, func() error, error) {
	w := d.Webhook
	return webhook.New(webhook.Config{
		URL:       w.URL,
		Secret:    w.Secret,
		Headers:   w.Headers,
		Timeout:   w.Timeout,
		UserAgent: "statsig-bridge/" + version(),
	}), nil, nil
}

// teeEncoder forwards the events as sent; only the destination's types,
// include and exclude apply, and only when set.
func teeEncoder(_ buildEnv, d config.Destination) (destination.Encoder, error) {
	return statsigtee.NewEncoder(d.Mapping), nil
}

func teeWriter(_ buildEnv, d config.Destination) (destination.Writer, func() error, error) {
	st := d.Statsig
	return statsigtee.New(statsigtee.Config{
		API:          st.API,
		ServerSecret: st.ServerSecret,
		Timeout:      st.Timeout,
		Version:      version(),
	}), nil, nil
}
