// Test-only handlers for tests/lambda/serverless.yml; the real one is
// examples/lambda/node/handler.js.

const { appendFileSync, existsSync } = require('fs');
const example = require('../../examples/lambda/node/handler');

function record(entry) {
    appendFileSync(process.env.SWITCHYARD_LAMBDA_RECORD, JSON.stringify(entry) + '\n');
}

exports.throws = async (event, context) => {
    record({ function: context.functionName, payload: event.payload, headers: event.headers });
    throw new Error('handler exploded on purpose');
};

exports.gated = async (event, context) => {
    record({ function: context.functionName, started: true, time_ms: Date.now() });
    const gate = process.env.SWITCHYARD_LAMBDA_GATE;
    const deadline = Date.now() + 20000;
    while (!existsSync(gate) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return example.handler(event, context);
};
