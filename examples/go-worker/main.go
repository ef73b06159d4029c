// Command go-worker is a CAIO bridge worker in Go, written from docs/protocol.md
// alone: it registers its contract, serves one capability in the service's
// queue group and heartbeats until SIGTERM or SIGINT.
//
// The endpoint is a plain queue subscription, which is all CAIO needs. nats.go
// gained its micro package (ADR-32, listed by `nats micro ls`) in v1.23;
// Debian 12 ships v1.22.1, so this example does without it.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
)

const capability = "text_echo"

func getenv(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

// request is the part of the router's service request this worker reads.
type request struct {
	RequestID  string  `json:"request_id"`
	DeadlineMs float64 `json:"deadline_ms"` // absolute Unix time in milliseconds
	Context    struct {
		Text *string `json:"text"`
	} `json:"context"`
}

type reply map[string]any

func fail(requestID, code, message string) reply {
	return reply{"status": "error", "request_id": requestID,
		"error": reply{"code": code, "message": message}}
}

func answer(data []byte, serviceID, instanceID string) reply {
	var req request
	if err := json.Unmarshal(data, &req); err != nil || req.Context.Text == nil {
		return fail(req.RequestID, "invalid_request", "context.text must be a string")
	}
	if req.DeadlineMs > 0 && float64(time.Now().UnixMilli()) > req.DeadlineMs {
		return fail(req.RequestID, "timeout", "deadline passed")
	}
	text := *req.Context.Text
	return reply{"status": "ok", "request_id": req.RequestID,
		"result": reply{"text": text, "served_by": serviceID, "instance_id": instanceID},
		"usage":  reply{"chars": utf8.RuneCountInString(text)}}
}

// register sends the contract (nested dialect) and fails unless it is registered.
func register(nc *nats.Conn, prefix, serviceID, apiKey string) error {
	contract := reply{"service": reply{
		"id": serviceID, "name": "Go echo", "version": "1.0.0",
		"capabilities": []reply{{"type": capability}},
		"guarantees":   reply{"latency": reply{"property": "p95_latency_ms", "bound": reply{"max": 100}}},
		"cost":         reply{"model": "free", "token_cost": 0, "currency": "USD"},
		"privacy":      reply{"data_locality": "on_prem", "hipaa_compliant": false},
	}}
	msg := nats.NewMsg(prefix + ".registry.register")
	msg.Data, _ = json.Marshal(reply{"contract": contract})
	if apiKey != "" {
		msg.Header.Set("Authorization", "Bearer "+apiKey)
	}
	resp, err := nc.RequestMsg(msg, 5*time.Second)
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	var got struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(resp.Data, &got); err != nil || got.Status != "registered" {
		return fmt.Errorf("registration refused: %s", resp.Data)
	}
	return nil
}

func main() {
	log.SetFlags(0)
	url := getenv("CAIO_NATS_URL", nats.DefaultURL)
	prefix := getenv("CAIO_PREFIX", "caio")
	serviceID := getenv("CAIO_SERVICE_ID", "go-echo") // a subject token: [a-z0-9][a-z0-9_-]{0,63}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	instanceID := serviceID + "-" + hex.EncodeToString(suffix)

	closed := make(chan struct{})
	nc, err := nats.Connect(url, nats.Name(instanceID),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		log.Fatalf("connect %s: %v", url, err)
	}
	if err := register(nc, prefix, serviceID, os.Getenv("CAIO_API_KEY")); err != nil {
		log.Fatal(err)
	}

	subject := fmt.Sprintf("%s.svc.%s.%s", prefix, serviceID, capability)
	_, err = nc.QueueSubscribe(subject, serviceID, func(msg *nats.Msg) {
		body, _ := json.Marshal(answer(msg.Data, serviceID, instanceID))
		if err := msg.Respond(body); err != nil {
			log.Printf("respond: %v", err)
		}
	})
	if err == nil {
		err = nc.Flush() // the subscription is on the server before the router hears we are alive
	}
	if err != nil {
		log.Fatalf("subscribe %s: %v", subject, err)
	}

	beat := func(stopping bool) {
		body, _ := json.Marshal(reply{"service_id": serviceID, "instance_id": instanceID,
			"ts": time.Now().UTC().Format(time.RFC3339), "stopping": stopping})
		if err := nc.Publish(prefix+".heartbeat."+serviceID, body); err != nil {
			log.Printf("heartbeat: %v", err) // one missed beat is harmless
		}
	}
	beat(false)
	log.Printf("%s: serving %s on %s, prefix %s", instanceID, capability, url, prefix)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ticker := time.NewTicker(5 * time.Second) // the protocol: at least every 5 s
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			beat(false)
		case <-closed:
			log.Fatal("NATS connection closed")
		case <-ctx.Done():
			// "stopping" is an extension (docs/protocol.md): the router drops this
			// instance at once. Drain answers the requests already received, then closes.
			beat(true)
			if err := nc.Drain(); err != nil {
				log.Fatalf("drain: %v", err)
			}
			<-closed
			return
		}
	}
}
