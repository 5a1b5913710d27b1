"""Português do Brasil: for members whose Discord is set to pt-BR."""

MESSAGES: dict[str, str] = {
    "error.internal": "Desculpe, algo deu errado do meu lado. (referência {reference})",
    "error.cooldown": "Calma aí: tente de novo em {seconds} segundos.",
    "error.missing_permissions": "Você precisa da permissão {permissions} para isso.",
    "error.guild_only": "Este comando funciona no servidor, não em mensagens diretas.",
    "error.bad_value": "{value} não é um valor válido para essa opção: escolha um que o "
    "Discord oferece.",
    "error.check_failed": "Você não pode usar este comando aqui.",
    "error.outdated": "Esse comando mudou; o Discord vai atualizar a lista em breve. "
    "Tente de novo.",
    "voice.join_first": "Entre num canal de voz primeiro e peça de novo.",
    "voice.busy_elsewhere": "Já estou em {channel}: venha para lá.",
    "voice.same_channel": "Entre em {channel} comigo para controlar a música.",
    "voice.connect_failed": "Não consegui me conectar a {channel}. Tente de novo daqui a pouco.",
    "voice.unavailable": "Voz não está disponível neste bot: falta no servidor a biblioteca de "
    "áudio Opus (libopus).",
    "music.link_not_allowed": "Só toco links de {hosts}. Para qualquer outra coisa, digite "
    "palavras para buscar.",
    "music.no_result": "Não encontrei nada para tocar com isso.",
    "music.live": "Não toco transmissões ao vivo: escolha uma gravação.",
    "music.too_long": "Essa faixa passa de {minutes} minutos, o máximo que eu toco.",
    "music.unplayable": "Não consegui tocar isso: a fonte falhou ou não é um áudio tocável.",
    "music.source_failed": "{title} não pôde ser tocada (a fonte falhou): vamos para a próxima.",
    "music.queue_full": "A fila está cheia ({limit} faixas). Tente de novo quando ela andar.",
    "music.now_playing": "▶️ Tocando agora {title} ({duration}).",
    "music.queued": "➕ {title} ({duration}) entrou na fila na posição {position}.",
    "music.unknown": "duração desconhecida",
    "music.nothing_playing": "Nada está tocando.",
    "music.nothing_to_resume": "Não há nada para continuar: a fila está vazia.",
    "music.skipped": "⏭️ {user} pulou {title}.",
    "music.stopped": "⏹️ {user} parou a música e limpou a fila ({count} faixas).",
    "music.paused": "⏸️ {user} pausou {title}.",
    "music.resumed": "▶️ {user} retomou {title}.",
    "music.queue_empty": "A fila está vazia. Adicione uma música com /play.",
    "music.queue_title": "Fila de músicas",
    "music.queue_playing": "Tocando agora",
    "music.queue_paused": "Pausada",
    "music.queue_stopped": "Parada (/resume continua)",
    "music.queue_current": "{title}\n{elapsed} / {total} · pedida por {requester}",
    "music.queue_next": "A seguir",
    "music.queue_entry": "{position}. {title} ({duration}) · {requester}",
    "music.queue_nothing_next": "Nada depois desta.",
    "music.queue_footer": "Página {page}/{pages} · {count} faixas · {total} no total",
    "say.not_configured": "A fala não está configurada neste bot (precisa de uma chave e uma "
    "voz da ElevenLabs).",
    "say.too_long": "Isso tem {length} caracteres; eu falo no máximo {limit}.",
    "say.done": "🔊 Falei em {channel}.",
    "say.failed_invalid_key": "Não consegui falar: a ElevenLabs recusou a chave do bot. Avise "
    "quem opera o bot.",
    "say.failed_quota_exceeded": "Não consegui falar: a cota da ElevenLabs acabou.",
    "say.failed_rate_limited": "Não consegui falar: a ElevenLabs está limitando os pedidos. "
    "Tente de novo daqui a um minuto.",
    "say.failed_unavailable": "Não consegui falar: a ElevenLabs teve um erro no servidor. "
    "Tente mais tarde.",
    "say.failed_timeout": "Não consegui falar: a ElevenLabs demorou demais para responder. "
    "Tente mais tarde.",
}

# English name, description, option or choice -> the text Discord shows in pt-BR.
COMMAND_TEXTS: dict[str, str] = {
    "play": "tocar",
    "Play a song in your voice channel": "Toca uma música no seu canal de voz",
    "query": "busca",
    "Words to search for, or a link": "Palavras para buscar, ou um link",
    "queue": "fila",
    "Show the song playing and what comes next": "Mostra a música tocando e o que vem depois",
    "page": "pagina",
    "Which page of the queue to show": "Qual página da fila mostrar",
    "skip": "pular",
    "Skip the song playing": "Pula a música que está tocando",
    "stop": "parar",
    "Stop the music, clear the queue and leave": "Para a música, limpa a fila e sai do canal",
    "pause": "pausar",
    "Pause the song playing": "Pausa a música que está tocando",
    "resume": "continuar",
    "Resume the music, or carry on with the queue": "Retoma a música, ou continua a fila",
    "say": "falar",
    "Say something in your voice channel": "Fala algo no seu canal de voz",
    "text": "texto",
    "What the bot should say": "O que o bot deve falar",
}
