// GraphiQL with a token picker: the chosen token goes as the Authorization
// header of queries and mutations, and in connection_init of the WebSocket
// that carries subscriptions (a browser cannot set headers on a WebSocket).
(function () {
  'use strict';
  var endpoint = new URL('/graphql', window.location.href).href;
  var socketEndpoint = endpoint.replace(/^http/, 'ws');
  var devTokens = JSON.parse(document.getElementById('casebook-dev-tokens').textContent);
  var choice = document.getElementById('casebook-token-choice');
  var pasted = document.getElementById('casebook-token');
  var REMEMBERED = 'casebook.graphiql.token-choice';
  var PASTED = '__pasted__';

  choice.add(new Option('none', ''));
  devTokens.forEach(function (dev) { choice.add(new Option(dev.role + ' (dev)', dev.role)); });
  choice.add(new Option('pasted', PASTED));
  var remembered = window.localStorage.getItem(REMEMBERED);
  var known = Array.prototype.some.call(choice.options, function (o) { return o.value === remembered; });
  choice.value = known ? remembered : (devTokens.length ? devTokens[0].role : PASTED);

  function currentToken() {
    if (choice.value === PASTED) return pasted.value.trim();
    var dev = devTokens.find(function (d) { return d.role === choice.value; });
    return dev ? dev.token : '';
  }

  var socket = null;
  function fetcherFor(token) {
    if (socket) socket.dispose();
    var auth = token ? { Authorization: 'Bearer ' + token } : {};
    socket = graphqlWs.createClient({ url: socketEndpoint, lazy: true, connectionParams: auth });
    return GraphiQL.createFetcher({ url: endpoint, headers: auth, wsClient: socket });
  }

  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  var shown = null;
  function render() {
    pasted.hidden = choice.value !== PASTED;
    var token = currentToken();
    if (token === shown) return;
    shown = token;
    root.render(React.createElement(GraphiQL, {
      fetcher: fetcherFor(token),
      defaultQuery: '# Pick a token above, then run:\n{\n  me {\n    tenant\n    permissions\n    user { displayName }\n  }\n}\n',
    }));
  }
  choice.addEventListener('change', function () {
    window.localStorage.setItem(REMEMBERED, choice.value);
    render();
  });
  pasted.addEventListener('input', render);
  render();
})();
