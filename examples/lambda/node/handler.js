// A Lambda handler for Switchyard (or soketi) webhooks, in the shape of soketi's documented
// example, with its signature check made correct:
//
// - the docs test `typeof headers[...] === undefined`, which is always false (`typeof` yields
//   the *string* 'undefined'), so a missing header was never caught; here it is;
// - the docs compare hex strings with `!==`, which leaks timing; here `timingSafeEqual` does.
//
// The secret is the app secret, given to the function as SOKETI_SECRET (the docs' name).
//
// For tests only: when SWITCHYARD_LAMBDA_RECORD names a file, one JSON line per invocation is
// appended to it: what arrived and whether the check passed.

const { createHmac, timingSafeEqual } = require('crypto');
const { appendFileSync } = require('fs');

/** Whether `signature` is the hex HMAC-SHA256 of JSON.stringify(payload) with `secret`. */
function signatureIsValid(payload, signature, secret) {
    if (typeof signature !== 'string' || typeof secret !== 'string' || secret === '') {
        return false;
    }
    const expected = createHmac('sha256', secret).update(JSON.stringify(payload)).digest();
    const given = Buffer.from(signature, 'hex');
    // A non-hex or short header decodes to fewer bytes: timingSafeEqual needs equal lengths.
    return given.length === expected.length && timingSafeEqual(given, expected);
}

/** What to do with one event; returns a line describing it. */
function handleEvent(event) {
    const { name, channel } = event;
    switch (name) {
        case 'channel_occupied':
            return `${channel} is now occupied`;
        case 'channel_vacated':
            return `${channel} is now vacated`;
        case 'member_added':
            return `user ${event.user_id} joined ${channel}`;
        case 'member_removed':
            return `user ${event.user_id} left ${channel}`;
        case 'client_event':
            return `client event ${event.event} on ${channel} from socket ${event.socket_id}`;
        case 'cache_miss':
            return `cache miss on ${channel}`;
        case 'subscription_count':
            return `${channel} has ${event.subscription_count} subscriptions`;
        default:
            // Newer servers may send event types this handler does not know yet: skip them.
            return `ignored ${name} on ${channel}`;
    }
}

function record(entry) {
    const file = process.env.SWITCHYARD_LAMBDA_RECORD;
    if (file) {
        appendFileSync(file, JSON.stringify(entry) + '\n');
    }
}

exports.handler = async ({ payload, headers } = {}, context) => {
    const signature = headers ? headers['X-Pusher-Signature'] : undefined;
    const signatureOk = signatureIsValid(payload, signature, process.env.SOKETI_SECRET);
    const handled = signatureOk ? payload.events.map(handleEvent) : [];
    record({
        function: context && context.functionName,
        payload,
        headers,
        signature_ok: signatureOk,
        handled,
    });
    if (!signatureOk) {
        // Never process a payload whose signature does not match. Throwing (where soketi's
        // example returns quietly) makes the invocation a FunctionError, so the gateway logs a
        // failed delivery and a wrong SOKETI_SECRET is noticed instead of dropping every event.
        throw new Error('invalid webhook signature');
    }
    handled.forEach((line) => console.log(line));
    return { handled: handled.length };
};

exports.signatureIsValid = signatureIsValid;
