# The Jaeger agent's UDP service, from the public jaeger-idl definition.
include "jaeger.thrift"
namespace py agent

service Agent {
  oneway void emitBatch(1: jaeger.Batch batch)
}
