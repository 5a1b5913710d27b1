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
    "permission.manage_guild": "Gerenciar Servidor",
    # /persona
    "persona.title": "Como eu vejo a escrita de {name}",
    "persona.tone": "Tom",
    "persona.reply_style": "Estilo de resposta",
    "persona.language": "Idioma principal",
    "persona.figures": "Números de estilo",
    "persona.average_length": "Tamanho médio: {length} caracteres",
    "persona.questions": "Perguntas",
    "persona.exclamations": "Exclamações",
    "persona.emoji": "Emoji",
    "persona.capitals": "Maiúsculas",
    "persona.links": "Links",
    "persona.active_hours": "Horários mais ativos (UTC): {hours}",
    "persona.temperature": "Temperatura usada com você",
    "persona.temperature_fixed": "fixada pelo modelo",
    "persona.built": "Feito a partir de",
    "persona.built_value": "suas últimas {count} mensagens, {when}",
    "persona.kept": "O que fica guardado",
    "persona.kept_value": "Suas mensagens nos canais observados, por no máximo {days} dias, e "
    "este perfil. `/persona esquecer` apaga tudo; `/persona sair` interrompe tudo.",
    "persona.none_yet": "Você ainda não tem perfil. Eu monto um a partir das suas mensagens nos "
    "canais observados na próxima vez que eu te responder.",
    "persona.none_opted_out": "Você saiu: não guardo nada seu aqui. `/persona participar` desfaz "
    "isso.",
    "persona.none_needs_opt_in": "Neste servidor os perfis são opcionais: use `/persona "
    "participar` se quiser um.",
    "persona.refresh_cooldown": "Seu perfil foi atualizado há pouco: tente de novo em {minutes} "
    "minutos.",
    "persona.refresh_failed": "Não consegui montar seu perfil agora (nenhuma mensagem sua, ou o "
    "serviço de IA está fora do ar). Tente mais tarde.",
    "persona.forget_question": "Apagar todas as suas mensagens que guardo neste servidor, seu "
    "perfil e suas configurações? Não dá para desfazer.",
    "persona.forget_yes": "Apagar tudo",
    "persona.forget_no": "Cancelar",
    "persona.not_your_button": "Estes botões são de quem fez o pedido.",
    "persona.forget_cancelled": "Nada foi apagado.",
    "persona.forgotten": "Pronto: {messages} mensagens, seu perfil e suas configurações foram "
    "apagados.",
    "persona.opted_out": "Você saiu: apaguei {messages} mensagens e seu perfil, e não vou guardar "
    "nem analisar nada seu aqui. `/persona participar` desfaz isso.",
    "persona.opted_in": "Você entrou: vou guardar suas mensagens nos canais observados e montar "
    "seu perfil a partir delas.",
    "persona.unknown_action": "Escolha uma das ações que o Discord oferece: mostrar, atualizar, "
    "esquecer, sair, participar ou exportar.",
    "persona.export_wait": "Você pediu seus dados na última hora: pode pedir de novo {when}.",
    "persona.exported": "Aqui está tudo o que guardo sobre você, em todos os servidores "
    "({messages} mensagens). O arquivo é só para você; o README descreve os campos.",
    "persona.export_too_big": "Seus dados não cabem em um arquivo do Discord: peça uma cópia ao "
    "operador do bot.",
    # /privacy
    "privacy.title": "O que este bot guarda, e o que você pode fazer",
    "privacy.intro": "O bot lê os canais que o servidor escolheu, guarda mensagens para "
    "participar da conversa e aprende como cada membro escreve para responder num tom adequado.",
    "privacy.kept": "O que é guardado",
    "privacy.kept_value": "Suas mensagens nos canais observados (texto, horários, servidor e "
    "canal), por no máximo {days} dias; uma descrição curta do seu estilo de escrita (seu "
    "perfil), visível só para você; sua escolha de sair ou participar; os ids das respostas do "
    "bot a você; os tokens do modelo gastos com você (contagens, nunca texto).",
    "privacy.why": "Por quê",
    "privacy.why_value": "Para dar ao bot a conversa recente como contexto e ajustar as respostas "
    "ao seu jeito de escrever. Nunca para traçar seu perfil para outros, nunca para treinar um "
    "modelo.",
    "privacy.recipients": "Quem recebe",
    "privacy.recipients_value": "O Azure OpenAI, na implantação do operador, recebe as mensagens "
    "recentes de um canal e seu perfil quando o bot considera uma resposta. Os admins do "
    "servidor nunca veem suas mensagens nem seu perfil.",
    "privacy.recipients_speech": "O ElevenLabs recebe o texto do `/say`, para falá-lo.",
    "privacy.how_long": "Por quanto tempo",
    "privacy.how_long_value": "Mensagens e tudo o que vem delas: no máximo {days} dias. Quando o "
    "bot é removido de um servidor, tudo desse servidor é apagado {hours} horas depois, a menos "
    "que ele seja adicionado de novo.",
    "privacy.encryption": "Criptografia em repouso",
    "privacy.encrypted": "Textos, nomes e perfis são criptografados nos arquivos do bot.",
    "privacy.not_encrypted": "O operador não definiu uma chave de criptografia: os textos são "
    "guardados como escritos, na máquina do operador.",
    "privacy.controls": "Seus controles",
    "privacy.controls_value": "`/persona` mostra seu perfil; `/persona exportar` dá uma cópia de "
    "tudo, de todos os servidores; `/persona esquecer` apaga tudo aqui; `/persona sair` apaga e "
    "não guarda mais nada; `/persona participar` desfaz isso. Conta do Discord apagada: fale com "
    "o operador.",
    "privacy.policy": "Política de privacidade",
    "privacy.policy_link": "Leia a política de privacidade do operador",
    # /setup forget-server
    "setup.forget_server_question": "Apagar agora todas as mensagens, perfis de membros e "
    "contagens de tokens que o bot guarda deste servidor? As configurações e as saídas dos "
    "membros ficam. Não dá para desfazer.",
    "setup.forget_server_yes": "Apagar os dados do servidor",
    "setup.forget_server_no": "Cancelar",
    "setup.forget_server_cancelled": "Nada foi apagado.",
    "setup.forget_server_done": "Pronto: {messages} mensagens e {profiles} perfis deste servidor "
    "foram apagados, com as contagens de tokens.",
    "style.elegant": "elegante",
    "style.direct": "direto",
    "style.playful": "brincalhão",
    "style.warm": "caloroso",
    "style.none": "melhor não responder",
    # /temperature
    "temperature.value": "Sua temperatura de resposta aqui: **{value}**",
    "temperature.base": "• Base do servidor: {base} (definida por um moderador)",
    "temperature.base_default": "• Base do servidor: {base} (o padrão)",
    "temperature.adjustment": "• Ajuste da sua persona: {adjustment}",
    "temperature.no_persona": "• Sem ajuste de persona (você não tem perfil)",
    "temperature.clamped": "• Limitada à faixa permitida {low}–{high}",
    "temperature.within": "• Dentro da faixa permitida {low}–{high}",
    "temperature.accepted": "• A implantação de IA usa esta temperatura.",
    "temperature.not_accepted": "• A implantação de IA não aceita temperatura (um modelo de "
    "raciocínio): ela usa um valor fixo próprio.",
    "temperature.set_done": "A temperatura base do servidor agora é {value}.",
    "temperature.reset_done": "A temperatura base do servidor voltou ao padrão.",
    "temperature.set_what": "Informe um `valor` de 0.0 a 2.0, ou `redefinir: True`.",
    "temperature.out_of_range": "A temperatura deve ser um número de {low} a {high}.",
    "voice.join_first": "Entre num canal de voz primeiro e peça de novo.",
    "voice.busy_elsewhere": "Já estou em {channel}: venha para lá.",
    "voice.same_channel": "Entre em {channel} comigo para controlar a música.",
    "voice.stage_not_allowed": "Não posso falar no palco {channel}: me dê a permissão Silenciar "
    "membros lá (ou me torne moderador do palco) e peça de novo.",
    "voice.connect_failed": "Não consegui me conectar a {channel}. Tente de novo daqui a pouco.",
    "voice.unavailable": "Voz não está disponível neste bot: falta no servidor a biblioteca de "
    "áudio Opus (libopus).",
    "music.link_not_allowed": "Só toco links de {hosts} e links diretos para arquivos de "
    "áudio ({extensions}). Para qualquer outra coisa, digite palavras para buscar.",
    "music.private_network": "Esse link leva a um endereço de rede privada, de onde eu não toco.",
    "music.not_audio": "Esse link não é um arquivo de áudio que eu consiga tocar.",
    "music.too_large": "Esse arquivo passa de {megabytes} MB, o máximo que eu toco.",
    "music.no_result": "Não encontrei nada para tocar com isso.",
    "music.live": "Não toco transmissões ao vivo: escolha uma gravação.",
    "music.too_long": "Essa faixa passa de {minutes} minutos, o máximo que eu toco.",
    "music.timeout": "A fonte demorou demais para responder: tente de novo, ou escolha outra.",
    "music.busy": "Estou procurando músicas demais agora: tente de novo daqui a pouco.",
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
    # /setup
    "setup.watch_lacks": "Não consigo atuar em {channel}: me falta {permissions}. Permita isso "
    "para o meu cargo nas permissões do canal e tente de novo.",
    "setup.watching": "Agora eu leio e converso em {channel}.",
    "setup.unwatched": "Não leio mais {channel}; as novas mensagens de lá não são guardadas.",
    "setup.other_server": "Escolha um canal deste servidor.",
    "setup.pace_how": "Informe `a-cada` ({low} a {high}) ou `so-mencoes: True`, não os dois.",
    "setup.pace_every": "a cada {every} mensagens",
    "setup.pace_mentions_only": "só quando mencionado",
    "setup.this_server": "este servidor",
    "setup.pace_set": "Ritmo em {where}: {pace}.",
    "setup.show_title": "As configurações do bot neste servidor",
    "setup.show_channels": "Canais observados",
    "setup.show_unwatched": "Canais do operador desligados aqui",
    "setup.show_pace": "Ritmo do servidor",
    "setup.show_channel_paces": "Ritmo por canal",
    "setup.source_operator": "padrão do operador",
    "setup.source_server": "definido para este servidor",
    "setup.source_channel": "definido para este canal",
    "setup.reset_question": "Voltar aos padrões do operador para canais, ritmo, personagem e "
    "orçamento neste servidor?",
    "setup.reset_yes": "Redefinir",
    "setup.reset_no": "Cancelar",
    "setup.reset_cancelled": "Nada mudou.",
    "setup.reset_done": "Este servidor voltou aos padrões do operador.",
    "setup.character_title": "Quem o bot é aqui",
    "setup.character_name": "Nome",
    "setup.character_description": "Quem ele é e como fala",
    "setup.character_description_hint": "Uma bibliotecária de humor seco que responde em "
    "frases curtas e precisas.",
    "setup.character_empty": "Dê um nome e uma descrição ao personagem e tente de novo.",
    "setup.character_too_long": "O nome tem no máximo {name} caracteres e a descrição no "
    "máximo {description}. Encurte e tente de novo.",
    "setup.character_set": "Em {where} agora eu sou **{name}**. Minhas regras continuam: sem "
    "menções, e as mensagens dos membros continuam sendo citações. Para mostrar o nome na "
    "lista de membros, mude meu apelido nas configurações do servidor.",
    "setup.character_reset": "Em {where} voltei a ser eu mesmo.",
    "setup.budget_too_high": "O operador permite no máximo {ceiling} tokens por dia por "
    "servidor. Escolha esse valor ou menos.",
    "setup.budget_how": "Informe um número positivo de tokens, por exemplo "
    "`tokens-por-dia: 200000`.",
    "setup.budget_set": "Orçamento diário: {server} tokens para o servidor{member}. Quando "
    "acabar, eu descanso até 00:00 UTC.",
    "setup.budget_per_member": ", {member} por membro",
    "setup.show_character": "Personagem",
    "setup.show_character_none": "o próprio bot",
    "setup.show_channel_characters": "Personagem por canal",
    "setup.show_budget": "Orçamento diário de tokens",
    "setup.budget_none": "sem limite",
    "setup.budget_tokens": "{tokens} tokens",
    "setup.show_today": "Tokens hoje",
    "setup.show_month": "Tokens neste mês",
    "setup.usage_total": "{total} no total",
    "setup.usage_profiles": "perfis de estilo",
    "setup.usage_top": "Membros que mais usaram: {members}",
    "setup.usage_nothing": "nada gasto",
    "chat.resting": "Estou descansando hoje: o orçamento diário deste servidor para as minhas "
    "respostas acabou. Volto depois de 00:00 UTC.",
    "chat.resting_member": "Estou descansando para você hoje: o seu orçamento diário para as "
    "minhas respostas neste servidor acabou. Volto depois de 00:00 UTC.",
    # Conversa (commands/chat_reply.py): uma menção que o modelo não conseguiu responder
    "chat.unanswered": "Desculpe, não consegui responder agora. Tente de novo em alguns minutos.",
}

# English name, description, option or choice -> the text Discord shows in pt-BR.
COMMAND_TEXTS: dict[str, str] = {
    # /persona
    "persona": "persona",
    "See how the bot sees your writing, and control your data": "Veja como o bot enxerga sua "
    "escrita e controle seus dados",
    "action": "acao",
    "What to do (default: show your profile)": "O que fazer (padrão: mostrar seu perfil)",
    "show": "mostrar",
    "refresh": "atualizar",
    "forget": "esquecer",
    "opt-out": "sair",
    "opt-in": "participar",
    "export": "exportar",
    # /privacy
    "privacy": "privacidade",
    "What the bot keeps about you, why, for how long, and who sees it": "O que o bot guarda "
    "sobre você, por quê, por quanto tempo e quem vê",
    # /setup forget-server
    "forget-server": "esquecer-servidor",
    "Delete every message, profile and token count the bot keeps for this server": "Apaga "
    "todas as mensagens, perfis e contagens de tokens que o bot guarda deste servidor",
    # /temperature and /temperature-set
    "temperature": "temperatura",
    "See the response temperature the bot uses with you": "Veja a temperatura de resposta que "
    "o bot usa com você",
    "temperature-set": "temperatura-definir",
    "Set the server's base response temperature (Manage Server)": "Defina a temperatura base "
    "de resposta do servidor (Gerenciar Servidor)",
    "value": "valor",
    "From 0.0 (predictable) to 2.0 (wild); the default is 0.8": "De 0.0 (previsível) a 2.0 "
    "(solto); o padrão é 0.8",
    "reset": "redefinir",
    "Go back to the default": "Voltar ao padrão",
    # Voice: /play, /queue, /skip, /stop, /pause, /resume, /say
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
    # /setup
    "setup": "configurar",
    "Set the bot up in this server (Manage Server)": "Configure o bot neste servidor "
    "(Gerenciar Servidor)",
    "watch": "observar",
    "Let the bot listen and talk in a channel": "Deixe o bot ler e conversar em um canal",
    "unwatch": "deixar-de-observar",
    "Stop the bot listening in a channel": "Faça o bot parar de ler um canal",
    "channel": "canal",
    "A text or forum channel of this server": "Um canal de texto ou fórum deste servidor",
    "pace": "ritmo",
    "How often the bot speaks, here or in one channel": "Com que frequência o bot fala, aqui "
    "ou em um canal",
    "every": "a-cada",
    "Consider replying every Nth message (2 to 50)": "Considerar responder a cada N mensagens "
    "(2 a 50)",
    "mentions-only": "so-mencoes",
    "Only answer when a member mentions or replies to the bot": "Só responder quando alguém "
    "mencionar o bot ou responder a ele",
    "Only this channel (default: the whole server)": "Só este canal (padrão: o servidor todo)",
    "See this server's settings and where they come from": "Veja as configurações deste "
    "servidor e de onde vêm",
    "Go back to the operator's defaults": "Voltar aos padrões do operador",
    "character": "personagem",
    "Who the bot is here: its name and how it talks": "Quem o bot é aqui: o nome e como fala",
    "Go back to the default character": "Voltar ao personagem padrão",
    "budget": "orcamento",
    "A daily cap on the Azure tokens this server may spend": "Um limite diário de tokens "
    "do Azure que este servidor pode gastar",
    "tokens-per-day": "tokens-por-dia",
    "Tokens a day for the whole server": "Tokens por dia para o servidor todo",
    "per-member": "por-membro",
    "Tokens a day for each member": "Tokens por dia para cada membro",
}
